"""python -m reelfind: the command line."""

from .cli import main

main()
