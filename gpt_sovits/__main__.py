"""`python -m gpt_sovits <stage> ...`"""

import sys

from gpt_sovits.cli import main

sys.exit(main())
