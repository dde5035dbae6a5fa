import sys

from jepaworld.cli.main import main

sys.exit(main())
