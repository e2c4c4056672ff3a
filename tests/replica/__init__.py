"""A local replica of the DrayDog camera site (page, JSON API and CDN) for tests and benchmarks.

from tests.replica import Replica, ReplicaConfig, make_dataset

# days are site-local (America/Los_Angeles); a naive `now` is site-local wall time
ds = make_dataset(days=[date(2025, 9, 5), date(2025, 9, 6)], now=datetime(2025, 9, 6, 12))
with Replica(ds, ReplicaConfig(api_delay=0.3, now=ds.now)) as rep:
    rep.page_url("in_gate")   # the camera page (needs `npm ci --prefix tests/replica`)
    rep.expected("in_gate", date(2025, 9, 5))   # [(UTC stamp, variant, bytes)]
"""

from .config import GALLERY_MODES, PAGE_ZONES, ReplicaConfig
from .dataset import CaptureSpec, Dataset, as_utc, make_dataset, site_now
from .faults import Fault, Faults
from .records import RequestLog, RequestRecord
from .replica import Replica
from .vendor import VendorMissing

__all__ = [
    "GALLERY_MODES",
    "PAGE_ZONES",
    "CaptureSpec",
    "Dataset",
    "Fault",
    "Faults",
    "Replica",
    "ReplicaConfig",
    "RequestLog",
    "RequestRecord",
    "VendorMissing",
    "as_utc",
    "make_dataset",
    "site_now",
]
