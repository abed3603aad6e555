import sys

from bosun_cli.main import main

sys.exit(main())
