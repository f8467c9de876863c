"""A hardening layer on the CDK's public surface: what any declarative connector needs that
the CDK does not give, as plain parts a connector wires in. It imports the CDK, the standard
library and itself, never the connector: the connector's words, its cursor format and its
reply rules come in as arguments. Each module's text names the CDK gap it fills and the
smallest change to the CDK that would make it unnecessary; `cdk_private` holds every private
name of the CDK the layer uses."""
