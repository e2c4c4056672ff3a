"""Test suite for dogcli."""
