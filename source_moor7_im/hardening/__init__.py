"""What any declarative connector needs that the CDK does not give, as plain parts a connector wires in.
It imports only the CDK, the standard library and itself (the connector's words, cursor format and
reply rules come in as arguments). Each module names the CDK gap it fills and the smallest CDK change
that would make it unnecessary; `cdk_private` lists every private CDK name the layer uses."""
