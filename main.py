"""The connector's entry point as Airbyte's Python build runs it, `python main.py spec` and so
on: airbyte-ci copies this file and the package directory beside it, installs the
dependencies alone, and runs this file (the installed command is `source-moor7-im`)."""

from source_moor7_im.run import run

if __name__ == "__main__":
    run()
