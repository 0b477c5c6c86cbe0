"""A /metrics scrape parsed by prometheus_client's text-format parser, and deltas.

    s0 = Scrape.get(proxy.admin)            # GET /metrics, parsed (raises on bad syntax)
    ... traffic ...
    s1 = Scrape.get(proxy.admin)
    s1.delta(s0, "staticedge_requests_total", route="api.example.test", code="200")
    s1.value("staticedge_draining")          # one series, exact labels (None when absent)
    s1.total("staticedge_upstream_errors_total", upstream="dead")   # sum over matching series

Sample names are the exposed ones (`..._total`, `..._count`, `..._bucket`), not the
family names the parser reports for counters.
"""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from . import httpc


@dataclass
class Scrape:
    text: str
    content_type: str
    families: dict            # family name -> prometheus_client Metric
    samples: list             # (sample name, labels dict, value)

    @classmethod
    def parse(cls, text: str, content_type: str = "") -> "Scrape":
        families = {}
        samples = []
        for fam in text_string_to_metric_families(text):
            families[fam.name] = fam
            for s in fam.samples:
                samples.append((s.name, dict(s.labels), float(s.value)))
        return cls(text, content_type, families, samples)

    @classmethod
    def get(cls, admin, timeout: float = 5.0) -> "Scrape":
        r = httpc.request(tuple(admin), "/metrics", host="admin", tls=False, timeout=timeout)
        if r.status != 200:
            raise AssertionError(f"/metrics answered {r.status}: {r.text[:300]}")
        return cls.parse(r.text, r.header("content-type", ""))

    def series(self, name: str, **labels) -> list[tuple[dict, float]]:
        """Every series of sample `name` whose labels include `labels`."""
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(want) for k, want in labels.items())]

    def value(self, name: str, **labels) -> float | None:
        """The one series with exactly these labels, or None."""
        for n, l, v in self.samples:
            if n == name and l == {k: str(x) for k, x in labels.items()}:
                return v
        return None

    def total(self, name: str, **labels) -> float:
        return sum(v for _, v in self.series(name, **labels))

    def delta(self, before: "Scrape", name: str, **labels) -> float:
        return self.total(name, **labels) - before.total(name, **labels)

    def moved(self, before: "Scrape", name: str) -> dict:
        """{label tuple: delta} for every series of `name` that changed since `before`."""
        def by_labels(s: "Scrape"):
            return {tuple(sorted(l.items())): v for n, l, v in s.samples if n == name}
        a, b = by_labels(before), by_labels(self)
        return {k: b.get(k, 0.0) - a.get(k, 0.0) for k in set(a) | set(b) if b.get(k, 0.0) != a.get(k, 0.0)}

    def names(self) -> set[str]:
        return {n for n, _, _ in self.samples}
