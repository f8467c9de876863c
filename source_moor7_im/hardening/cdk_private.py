"""Every private name of the CDK that the hardening layer uses, and where.

The CDK's concurrent read builds its reader and processor inline and keeps their parts
private (`ConcurrentSource.read`, stop_rules.py), a traced exception keeps its cause private
(stop_rules.py), and a declarative source keeps its config and its concurrent source private
(declarative.py). Nothing outside `hardening/` uses a private name of the CDK.
`unit_tests/test_cdk_private.py` checks that each name below still exists in the installed
CDK, so that a release that drops one fails there, with that name, and that no other private
name of the CDK is used in the package. The smallest CDK change that would empty this list:
a `ConcurrentSource.read` that takes reader and processor factories, processor hooks for a
partition's failure and for each state message, and public accessors for a traced
exception's cause and a declarative source's config and concurrent source.
"""

from __future__ import annotations

from airbyte_cdk.sources.concurrent_source.concurrent_read_processor import ConcurrentReadProcessor
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.partition_reader import PartitionReader
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

PRIVATE_NAMES: dict[type, tuple[str, ...]] = {
    # stop_rules.ContainedConcurrentSource and ContainedReadProcessor: ConcurrentSource.read, repeated
    # with our reader and processor
    ConcurrentSource: (
        "_threadpool",
        "_logger",
        "_slice_logger",
        "_queue",
        "_message_repository",
        "_initial_number_partitions_to_generate",
        "_submit_initial_partition_generators",
        "_consume_from_queue",
    ),
    # stop_rules.ContainedReadProcessor: a failed stream's exceptions, and whether a stream is done
    ConcurrentReadProcessor: (
        "_exceptions_per_stream_name",
        "_streams_currently_generating_partitions",
        "_stream_name_to_instance",
        "_is_stream_done",
        "_logger",
    ),
    # stop_rules.GuardedPartitionReader: where a partition's records and its end go
    PartitionReader: ("_queue",),
    # stop_rules.StopSignal.window_failed: whether the CDK's own retries ran out
    AirbyteTracedException: ("_exception",),
    # declarative.HardenedDeclarativeSource: the transformed config, and the read to replace
    ConcurrentDeclarativeSource: ("_config", "_concurrent_source"),
}
