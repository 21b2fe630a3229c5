"""HeadTwin Studio GUI: `python main.py [IMAGE] [--screenshot FILE [--tab NAME]]`."""

import sys

from headtwin_app.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
