"""Every private name of the CDK that the hardening layer uses, and where; `unit_tests/test_cdk_private.py` checks the list.

CDK gap: the concurrent read builds its reader and processor inline and keeps their parts private, a traced exception
its cause, a declarative source its config and concurrent source. The smallest CDK change, which empties the list: a
`ConcurrentSource.read` taking reader and processor factories, processor hooks for a partition's failure and each state
message, and public accessors for the cause, the config and the concurrent source."""

from airbyte_cdk.sources.concurrent_source.concurrent_read_processor import ConcurrentReadProcessor
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.partition_reader import PartitionReader
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

PRIVATE_NAMES: dict[type, str] = {  # each class's names, separated by spaces
    # stop_rules.ContainedConcurrentSource and ContainedReadProcessor: its read, with our reader and processor
    ConcurrentSource: "_threadpool _logger _slice_logger _queue _message_repository _initial_number_partitions_to_generate "
    "_submit_initial_partition_generators _consume_from_queue",
    # stop_rules.ContainedReadProcessor: a failed stream's exceptions, and whether a stream is done
    ConcurrentReadProcessor: "_exceptions_per_stream_name _streams_currently_generating_partitions _stream_name_to_instance "
    "_is_stream_done _logger",
    # stop_rules.GuardedPartitionReader: where a partition's records and its end go
    PartitionReader: "_queue",
    # stop_rules.StopSignal.window_failed: whether the CDK's own retries ran out
    AirbyteTracedException: "_exception",
    # declarative.HardenedDeclarativeSource: the transformed config, and the read to replace
    ConcurrentDeclarativeSource: "_config _concurrent_source",
}
