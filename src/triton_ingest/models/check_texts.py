"""The accuracy check set of the exported models: texts written for this project, by kind.

English prose, other Latin-script languages, CJK, code and command lines, tables flattened to
text, very short queries, and (built from those) texts past the 256-token limit. The export refuses
a model that strays from sentence-transformers on them (see :mod:`.int8_check`)."""

from __future__ import annotations

import hashlib

ENGLISH = [
    "Triton batches requests from many clients into one execution, which keeps the GPU busy.",
    "The quarterly report shows revenue growth of four percent, driven mostly by services.",
    "Before you replace the filter, switch off the pump and close both valves.",
    "She moved to Lisbon in the spring and found a flat near the river.",
    "Each chunk keeps the page numbers it came from, so answers can cite their sources.",
    "The contract ends on the last day of the month unless either party renews it in writing.",
    "Heavy rain is expected over the weekend, with flooding possible in low-lying areas.",
    "Mean pooling averages the token vectors, and the result is normalised to unit length.",
    "Patients should not take this medicine with alcohol or on an empty stomach.",
    "The bridge was closed for repairs after inspectors found cracks in two of its supports.",
    "Progress is written to a small file that the caller can poll while the job runs.",
    "Our team meets every Tuesday to review open issues and agree on the next release.",
    "A scanned page has no text layer, so its words have to be read by OCR.",
    "The recipe needs two eggs, a cup of flour and a pinch of salt.",
    "Vector search returns the chunks whose embeddings lie closest to the query's embedding.",
    "If the server runs out of memory, it rejects new requests instead of crashing.",
]

LATIN = [
    "Le serveur regroupe les requêtes de plusieurs clients afin d'utiliser pleinement le GPU.",
    "Veuillez éteindre l'appareil avant de remplacer la batterie.",
    "Die Rechnung ist innerhalb von vierzehn Tagen ohne Abzug zu bezahlen.",
    "Der Zug nach München fällt heute wegen eines Signalfehlers aus.",
    "El informe anual muestra un aumento de las ventas en todas las regiones.",
    "¿Dónde puedo encontrar el manual de instalación del programa?",
    "Il documento scansionato non contiene testo, quindi deve essere letto con l'OCR.",
    "A reunião foi adiada para a próxima semana por causa da greve.",
    "De vergadering begint om negen uur in de grote zaal op de tweede verdieping.",
    "Proszę zamknąć okno przed wyjściem z biura.",
    "Bu belgenin son sürümünü e-posta ile gönderebilir misiniz?",
    "Hệ thống sẽ tự động sao lưu dữ liệu vào lúc nửa đêm.",
    "Kun asiakirja on käsitelty, tulokset tallennetaan tietokantaan.",
    "Ferien i sommer varer tre uker, og kontoret er stengt i juli.",
    "Cererea dumneavoastră a fost înregistrată și va fi procesată în curând.",
    "Tento návod popisuje, jak nainstalovat ovladač tiskárny.",
]

CJK = [
    "東京の天気は明日から雨になる予定です。",
    "このマニュアルでは、サーバーの設定方法と起動手順を説明します。",
    "文書をアップロードすると、テキストが抽出され、チャンクごとに埋め込みが計算されます。",
    "会議は午後三時から第二会議室で行われます。",
    "申請書は来週の金曜日までに提出してください。",
    "推理服务器会把多个请求合并成一个批次，以提高吞吐量。",
    "请在更换过滤器之前关闭电源。",
    "这份报告总结了今年第三季度的销售情况。",
    "扫描的页面没有文本层，需要通过光学字符识别来读取。",
    "北京明天有小雨，气温在十度到十五度之间。",
    "請確認您的帳號密碼後再重新登入。",
    "本公司將於下個月推出新版本的軟體。",
    "서버는 여러 요청을 하나의 배치로 묶어 처리합니다.",
    "회의는 다음 주 월요일 오전 열 시에 시작합니다.",
    "이 문서는 설치 방법과 주의 사항을 설명합니다.",
    "東京と大阪の間を新幹線で移動しました。",
]

CODE = [
    "def embed(texts: list[str]) -> np.ndarray:\n    return model.encode(texts, normalize_embeddings=True)",
    "for i in range(0, len(rows), 64):\n    batch = rows[i:i + 64]\n    send(batch)",
    "SELECT name, COUNT(*) FROM documents WHERE kind = 'pdf' GROUP BY name ORDER BY 2 DESC;",
    "docker run --gpus all --shm-size=2g -p 8000:8000 -p 8001:8001 triton-ingest:0.1.0",
    "curl -s localhost:8000/v2/health/ready -o /dev/null -w '%{http_code}'",
    "git clone https://example.com/repo.git && cd repo && make test",
    "kubectl rollout restart deployment/triton-ingest -n inference",
    '{"model": "all-MiniLM-L6-v2", "input": ["hello", "world"], "encoding_format": "float"}',
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: triton-ingest\nspec:\n  replicas: 2",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "const total = items.reduce((sum, item) => sum + item.price * item.qty, 0);",
    "pip install -c constraints.txt -e './client[milvus]'",
    "^[A-Z]{3}-\\d{4}-[a-f0-9]{8}$",
    "fn main() { let v: Vec<u32> = (1..=10).map(|x| x * x).collect(); println!(\"{:?}\", v); }",
    "ERROR 2026-11-30T02:14:07Z worker-3 ConnectionResetError: [Errno 104] Connection reset by peer",
    "export NVCF_API_KEY=$(cat ~/.ngc/key) && triton-ingest --nvcf-function-id ingest health",
]

TABLES = [
    "Model | Precision | Texts/s | p99 ms\nMiniLM | fp32 | 95 | 3370\nMiniLM | int8 | 163 | 2082",
    "Country, Capital, Population (millions); France, Paris, 68; Japan, Tokyo, 124; Brazil, Brasília, 216",
    "Item Qty Unit price Total | Paper A4 10 4.50 45.00 | Toner 2 61.00 122.00 | Subtotal 167.00",
    "Date | Station | Rain (mm) | Max °C || 2026-11-01 | Oslo | 12.4 | 6.1 || 2026-11-02 | Oslo | 0.0 | 4.8",
    "Name: Anna Berg; Role: Engineer; Team: Inference; Start: 2024-03-01; Location: Stockholm",
    "製品名 | 価格 | 在庫 / ノートパソコン | 120,000円 | 5台 / モニター | 30,000円 | 12台",
    "Port 8000 HTTP, port 8001 gRPC, port 8002 metrics, port 9000 gateway",
    "Q1 2026: revenue 1.2M, costs 0.9M, margin 25%; Q2 2026: revenue 1.4M, costs 1.0M, margin 29%",
]

SHORT = [
    "pdf", "GPU memory?", "ok", "Triton", "how do I reset my password", "é", "東京", "42",
    "error 404", "int8 accuracy", "répondre", "kubectl logs", "Straße", "batch size", "?", "北京天气",
]

KINDS = {"english": ENGLISH, "latin": LATIN, "cjk": CJK, "code": CODE, "tables": TABLES, "short": SHORT}
LONG_SOURCES = ("english", "latin", "cjk", "code")


def long_texts() -> list[str]:
    """Texts past the 256-token limit (the model reads the first 256): each kind's texts joined,
    once in order and once reversed."""
    made = []
    for kind in LONG_SOURCES:
        joined = " ".join(KINDS[kind] * 3)
        made += [joined, " ".join(reversed(KINDS[kind] * 3))]
    return made


def check_set() -> dict[str, list[str]]:
    """Every kind of text, with ``long`` added."""
    return {**KINDS, "long": long_texts()}


def check_set_digest() -> str:
    """SHA-256 of the check set (kinds and texts), stored with the reference vectors made from it."""
    return hashlib.sha256("\x1e".join(f"{kind}\x1f{text}" for kind, items in check_set().items()
                                        for text in items).encode()).hexdigest()
