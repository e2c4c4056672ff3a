"""A local replica of the DrayDog camera site (page, JSON API and CDN) for tests and benchmarks.

from tests.replica import Replica, make_dataset

# days are site-local (America/Los_Angeles); a naive `now` is site-local wall time
ds = make_dataset(days=[date(2025, 9, 5), date(2025, 9, 6)], now=datetime(2025, 9, 6, 12))
with Replica(ds, api_delay=0.3, now=ds.now) as rep:
    rep.page_url("in_gate")   # the camera page (needs `npm ci --prefix tests/replica`)
    rep.expected("in_gate", date(2025, 9, 5))   # [(UTC stamp, variant, bytes)]
"""

from .dataset import CaptureSpec, Dataset, as_utc, make_dataset, site_now
from .faults import Fault, Faults
from .server import Replica, RequestLog, RequestRecord, VendorMissing

__all__ = [
    "CaptureSpec",
    "Dataset",
    "Fault",
    "Faults",
    "Replica",
    "RequestLog",
    "RequestRecord",
    "VendorMissing",
    "as_utc",
    "make_dataset",
    "site_now",
]
