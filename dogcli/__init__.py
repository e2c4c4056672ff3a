"""dogcli: archive DrayDog gate-camera images with a queryable catalog."""

__version__ = "0.1.0"
