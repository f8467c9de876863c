"""The `source-moor7-im` command. Loading this module imports nothing: the console script loads
it before the command's signal handling is in place (hardening/entrypoint.py)."""


def run() -> None:
    from .hardening.entrypoint import run_command

    run_command(
        name="source-moor7-im",
        distribution="airbyte-source-moor7-im",
        source="source_moor7_im.source:SourceMoor7Im",
        masked_headers=("m7-sign", "m7-nonce"),  # a sign lets its reader send requests as the account for 5 minutes
    )
