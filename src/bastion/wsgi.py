"""The WSGI application: Django, with the devices' busiest requests answered in front of it
(`core.hotpath`: a venue's code check)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bastion.settings")
django_application = get_wsgi_application()

from bastion.codes import api as codes_api  # noqa: E402  (Django is set up above)
from bastion.core.hotpath import HotPaths, Route  # noqa: E402

application = HotPaths(django_application, [Route("GET", "/api/v1/codes/check/", codes_api.device_check)])

# Everything loaded so far lives as long as the process: out of the collector's sight, so that a
# full collection no longer walks it while every request of the process waits (27 ms a time).
gc.collect()
gc.freeze()
