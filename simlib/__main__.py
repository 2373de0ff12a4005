import sys

from simlib.cli.main import main

sys.exit(main())
