"""The least a Python process needs for a ``COPY … FROM stdin`` seed: a floor the sqlmig CLI is compared with.

Usage: ``python bench/copy_floor.py URL FILE NAME``. Imports psycopg, connects, and in one transaction runs the
file's first line (the ``COPY`` statement), streams the rest of the file as it is, in 1 MiB blocks, without its
final ``\\.`` line, then records ``NAME`` in ``public.floor_history`` and commits: what psql does with the same
file, with no checks, no checksum and no splitting. The file must be one ``COPY`` statement on its first line, its
data, and ``\\.`` on the last line (the bench's generated seeds).
"""

from __future__ import annotations

import sys

import psycopg

BLOCK = 1024 * 1024
END = b"\\.\n"


def main() -> None:
    """Load ``FILE`` into the database at ``URL`` and record ``NAME``."""
    if len(sys.argv) != 4:
        sys.exit("usage: copy_floor.py URL FILE NAME")
    url, path, name = sys.argv[1:]
    with psycopg.connect(url) as conn, open(path, "rb") as fh:
        statement = fh.readline().decode().strip().rstrip(";")
        with conn.cursor().copy(statement) as copy:
            held = b""  # the end of the previous block: the \\. line may be split between two blocks
            while block := fh.read(BLOCK):
                data = held + block
                copy.write(data[: -len(END)])
                held = data[-len(END) :]
            if held != END:
                sys.exit(f"{path}: the data does not end with a \\. line")
        conn.execute("INSERT INTO public.floor_history (name) VALUES (%s)", (name,))


if __name__ == "__main__":
    main()
