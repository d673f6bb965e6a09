"""Prometheus metrics in a per-app registry (two apps in one process, as in tests, never collide).

The registry also carries prometheus_client's process collector (``process_resident_memory_bytes``,
``process_cpu_seconds_total``, ``process_open_fds``, ...; Linux ``/proc``), so memory growth from big
images and descriptor leaks from held connections show up next to the request metrics.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Request, error, image and batching metrics of one app."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "fashiontag_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fashiontag_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "fashiontag_errors", "Rejected or failed requests by kind.", ["kind"], registry=self.registry
        )
        self.images = Counter(
            "fashiontag_images_labelled", "Images labelled (per-image errors excluded).", registry=self.registry
        )
        self.image_errors = Counter(
            "fashiontag_image_errors", "Images that could not be decoded.", registry=self.registry
        )
        self.batch_size = Histogram(
            "fashiontag_batch_size",
            "Images per model micro-batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.queue_depth = Gauge("fashiontag_queue_depth", "Images waiting for the model.", registry=self.registry)
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
