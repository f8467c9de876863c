"""The `source-moor7-im` command. Loading it, and its package, imports nothing: the console script
loads it before the command's signal handling is in place (hardening/entrypoint.py)."""


def run() -> None:
    from .hardening.entrypoint import run_command

    # m7-sign and m7-nonce masked in logs: a sign lets its reader send requests as the account for 5 minutes.
    run_command("source-moor7-im", "airbyte-source-moor7-im", "source_moor7_im.source:SourceMoor7Im", ("m7-sign", "m7-nonce"))
