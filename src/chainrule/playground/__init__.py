"""``chainrule serve``: a web page that trains a network with chainrule and shows every number
the engine computes (see ``docs/playground.md``).

:mod:`~chainrule.playground.config` checks a run's configuration, :mod:`.session` runs it (one
per browser tab), :mod:`.commands` writes the equivalent command and Python code,
:mod:`.server` serves the page and its JSON API (Starlette, the ``serve`` extra), and
``static/`` holds the page itself: plain JavaScript modules, no build step, nothing fetched
from elsewhere.
"""

from .config import DEFAULT, LIMITS, check_config
from .session import Session

__all__ = ["DEFAULT", "LIMITS", "Session", "check_config"]
