"""A local replica of the DrayDog camera site (page, JSON API and CDN) for tests and benchmarks.

from tests.replica import Replica, make_dataset

ds = make_dataset(days=[date(2025, 9, 5), date(2025, 9, 6)], now=datetime(2025, 9, 6, 12))
with Replica(ds, api_delay=0.3) as rep:
    rep.page_url("in_gate")   # the camera page
    rep.expected("in_gate", date(2025, 9, 5))
"""

from .dataset import CaptureSpec, Dataset, make_dataset, site_now
from .faults import Fault, Faults
from .server import Replica, RequestLog, RequestRecord

__all__ = [
    "CaptureSpec",
    "Dataset",
    "Fault",
    "Faults",
    "Replica",
    "RequestLog",
    "RequestRecord",
    "make_dataset",
    "site_now",
]
