import sys

from maskrcnn_ext.cli.main import main

sys.exit(main())
