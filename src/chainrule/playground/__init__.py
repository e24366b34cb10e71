"""``chainrule serve``: a web page that trains a network with chainrule and shows every number
the engine computes (see ``docs/playground.md``).

:mod:`~chainrule.playground.config` checks a run's configuration, :mod:`.session` runs it (one
per browser tab: its data from :mod:`.data`, its updates in :mod:`.timeline`, what it shows in
:mod:`.views` and :mod:`.chains`, what it gives away in :mod:`.exports`), :mod:`.commands` writes
the equivalent command and Python code, :mod:`.server` serves the page and its JSON API
(Starlette, the ``serve`` extra; its handlers in :mod:`.routes`, its menus in :mod:`.options`), and
``static/`` holds the page itself: plain JavaScript modules, no build step, nothing fetched
from elsewhere. What the server guarantees against faults and hostile input is one rule each:
:mod:`.guard` (every request checked, every answer's headers, every error's status),
:mod:`.connections` (``TCP_NODELAY``, time limits, the cap on connections), :mod:`.inputs`
(every number from the client), :mod:`.uploads` (tables and model files checked before they
are read further) and :mod:`.budget` with :mod:`.store` (memory estimated before it is taken).
"""

from .config import DEFAULT, LIMITS, check_config
from .session import Session

__all__ = ["DEFAULT", "LIMITS", "Session", "check_config"]
