"""A small knowledge base made on the spot, with questions whose answers it holds: for index tests
and for recall@5 in ``make bench``.

``library()``: eight documents about a fictional product (PDF, DOCX, HTML, Markdown and text),
each a few chunks long. ``QUESTIONS``: (question, source, a phrase of the answering passage).
``error_notes()``: troubleshooting notes that differ mostly by an error code, where keyword
(BM25) search finds what dense search alone misses.
"""

from __future__ import annotations

import random

from support.documents import make_docx, make_html

TOPICS = {
    "installation.pdf": [
        "Installing Harbor Relay. Harbor Relay ships as a single binary for Linux on x86-64 and ARM64. "
        "Download the archive, verify its SHA-256 checksum against the release page, and unpack it into "
        "/opt/harbor-relay. The installer never needs root privileges once the directory is writable.",
        "System requirements. A relay node needs at least four CPU cores, eight gigabytes of memory and "
        "fifty gigabytes of solid-state storage for the spool. Spinning disks are not supported because "
        "the spool performs many small synchronous writes.",
        "First start. Run harbor-relay init to create the configuration file relay.toml and a fresh node "
        "identity. Then start the service with systemctl start harbor-relay and check that the status page "
        "answers on port 7443.",
    ],
    "security.docx": [
        "Authentication. Every client authenticates with a mutual TLS certificate issued by the relay's own "
        "certificate authority. Certificates expire after ninety days, and the relay rejects expired ones "
        "with a clear handshake error.",
        "Rotating keys. Operators rotate the signing key with harbor-relay keys rotate. The old key keeps "
        "verifying messages for a grace period of seven days so that in-flight traffic is not dropped.",
        "Audit log. Each administrative action is written to an append-only audit log with the operator's "
        "name, the time and the command line. The audit log is shipped to the central collector every minute.",
    ],
    "routing.html": [
        "Routing rules. Messages are routed by topic prefix. The longest matching prefix wins, and a rule "
        "may forward to several destinations at once, which is how fan-out is configured.",
        "Dead letters. A message that cannot be delivered after twelve attempts moves to the dead-letter "
        "queue. Operators inspect it with harbor-relay dlq list and can replay messages one by one.",
        "Ordering. Delivery order is preserved per topic and per sender. Across topics there is no global "
        "ordering guarantee, so consumers that need one must sequence messages themselves.",
    ],
    "performance.md": [
        "# Performance tuning\n\nBatching. The relay groups up to 500 messages or 4 megabytes, whichever comes "
        "first, into one write. Raising the batch size improves throughput on fast links but adds latency.",
        "Compression. Payloads above one kilobyte are compressed with zstd at level three by default. "
        "Compression can be disabled per route when payloads are already compressed images or video.",
        "Memory. The in-memory queue holds at most two gigabytes; beyond that the relay spills to the disk "
        "spool and applies back-pressure to senders instead of dropping messages.",
    ],
    "monitoring.txt": [
        "Metrics. The relay exports Prometheus metrics on port 9464 under /metrics, including queue depth, "
        "delivery latency histograms and the number of retries per destination.",
        "Health checks. The endpoint /healthz returns 200 when the node can accept traffic and 503 while it "
        "drains during a rolling upgrade, so load balancers stop sending new connections.",
        "Alerts. We recommend alerting when the dead-letter queue grows for more than ten minutes or when "
        "the spool uses more than eighty percent of its disk.",
    ],
    "upgrades.pdf": [
        "Rolling upgrades. Upgrade one node at a time: drain it with harbor-relay drain, wait until its "
        "queue is empty, replace the binary and start it again. Mixed versions interoperate for one minor release.",
        "Backups. The spool directory and relay.toml are everything a node needs. Snapshot them nightly; "
        "restoring a node means unpacking the snapshot and starting the service.",
        "Downgrades. Downgrading is supported only to the previous minor version, and only before the new "
        "version has compacted the spool, which happens twenty-four hours after the upgrade.",
    ],
    "clustering.docx": [
        "Cluster membership. Nodes discover each other through a static seed list in relay.toml. A cluster "
        "needs an odd number of voting nodes, at least three, to elect a leader with Raft.",
        "Failover. When the leader stops sending heartbeats for five seconds, the followers elect a new "
        "leader. Clients reconnect automatically and resend unacknowledged messages.",
        "Multi-region. Regions are connected by bridge routes rather than by one stretched cluster, because "
        "consensus across oceans would make every write wait for the slowest link.",
    ],
    "faq.md": [
        "# Frequently asked questions\n\nIs there a limit on message size? Yes: a single message may be at most "
        "sixteen megabytes. Larger payloads should be stored in object storage and referenced by URL.",
        "Does the relay support Windows? Windows is not supported as a server platform, but the client "
        "library runs on Windows, macOS and Linux.",
        "How is the relay licensed? Harbor Relay is released under the Apache License 2.0, and commercial "
        "support is available from the maintainers.",
    ],
}

QUESTIONS = [
    ("How much memory and how many CPU cores does a relay node need?", "installation.pdf", "eight gigabytes"),
    ("Can I put the spool on a spinning hard disk?", "installation.pdf", "Spinning disks are not supported"),
    ("Which command creates the configuration file?", "installation.pdf", "harbor-relay init"),
    ("How long are client certificates valid?", "security.docx", "ninety days"),
    ("What happens to the old key after a key rotation?", "security.docx", "grace period of seven days"),
    ("Where are administrative actions recorded?", "security.docx", "append-only audit log"),
    ("How do I send one message to several destinations?", "routing.html", "fan-out"),
    ("What happens to a message that can never be delivered?", "routing.html", "dead-letter queue"),
    ("Is message order guaranteed across different topics?", "routing.html", "no global"),
    ("How many messages are written together in one batch?", "performance.md", "500 messages"),
    ("Which compression algorithm is used for payloads?", "performance.md", "zstd"),
    ("What does the relay do when its memory queue is full?", "performance.md", "back-pressure"),
    ("On which port are the Prometheus metrics exported?", "monitoring.txt", "9464"),
    ("What does the health endpoint return while a node drains?", "monitoring.txt", "503"),
    ("When should an alert fire?", "monitoring.txt", "eighty percent"),
    ("How do I upgrade a cluster without downtime?", "upgrades.pdf", "one node at a time"),
    ("What should be backed up?", "upgrades.pdf", "Snapshot them nightly"),
    ("Can I go back to an older version after upgrading?", "upgrades.pdf", "previous minor version"),
    ("How many voting nodes does a cluster need?", "clustering.docx", "at least three"),
    ("What happens when the leader node fails?", "clustering.docx", "elect a new"),
    ("How should two regions be connected?", "clustering.docx", "bridge routes"),
    ("What is the largest message I can send?", "faq.md", "sixteen megabytes"),
    ("Can the relay server run on Windows?", "faq.md", "Windows is not supported"),
    ("Under which license is the relay released?", "faq.md", "Apache License 2.0"),
]


def _pdf(paragraphs: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for paragraph in paragraphs:  # a page each, so each paragraph is a chunk of its own
        pdf.add_page()
        pdf.multi_cell(0, 6, paragraph)
    return bytes(pdf.output())


def _encoded(name: str, paragraphs: list[str]) -> bytes:
    if name.endswith(".pdf"):
        return _pdf(paragraphs)
    if name.endswith(".docx"):
        return make_docx(paragraphs)
    if name.endswith(".html"):
        return make_html("</p><p>".join(paragraphs))
    return "\n\n".join(paragraphs).encode()


def library() -> dict[str, bytes]:
    """File name -> document bytes."""
    return {name: _encoded(name, paragraphs) for name, paragraphs in TOPICS.items()}


CAUSES = ["the cache volume is full", "the license server did not answer", "a shard replica fell behind",
          "the GPU ran out of memory", "the model file failed its checksum", "the request carried an expired token",
          "a page could not be rendered", "the tokenizer met invalid UTF-8", "the queue exceeded its limit",
          "the engine was built for another GPU", "the config file has a syntax error", "the disk quota was exceeded"]


def error_notes(count: int = 24, seed: int = 7) -> dict[str, tuple[str, str]]:
    """File name -> (note text, its error code): notes alike but for the code and the cause."""
    codes = random.Random(seed).sample(range(1000, 9999), count)
    notes = {}
    for i, code in enumerate(codes):
        text = (f"Troubleshooting note {i}. Error TRX-{code} is raised when {CAUSES[i % len(CAUSES)]}. "
                "Check the server log, restart the service and retry the request; contact support if it persists.")
        notes[f"note-{i:02d}.txt"] = (text, f"TRX-{code}")
    return notes
