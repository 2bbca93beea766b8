"""Writes redact_corpus.ndjson and redact_secrets.txt (seeded)."""
import json
import random

random.seed(8)
cards = ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004",
         "378282246310005", "6011000990139424", "3566002020360505",
         "4012888888881881", "5105105105105100"]
words = ["user", "paid", "order", "from", "to", "with", "login", "failed", "ok",
         "retry", "id=42", "at", "2024-05-01T10:00:00Z", "v1.2.3", "status=200"]
alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def tok(n, chars=alnum):
    return "".join(random.choice(chars) for _ in range(n))


def secret(kind):
    if kind == 0:
        return random.choice(cards)
    if kind == 1:
        return f"{tok(6).lower()}.{tok(4).lower()}@{tok(5).lower()}.example.com"
    if kind == 2:
        return "Bearer " + tok(32)
    if kind == 3:
        return "eyJ" + tok(16) + ".eyJ" + tok(20) + "." + tok(22)
    if kind == 4:
        return "AKIA" + tok(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    return ("-----BEGIN RSA PRIVATE KEY-----\nMII" + tok(40)
            + "\n-----END RSA PRIVATE KEY-----")


lines, secrets = [], []
for i in range(120):
    s = secret(i % 6)
    secrets.append(s[7:] if s.startswith("Bearer ") else s)
    text = (" ".join(random.choice(words) for _ in range(3)) + " " + s + " "
            + random.choice(words))
    rec = {"seq": i, "msg": text}
    if i % 4 == 0:
        pw = tok(12)
        rec["login"] = {"password": pw, "user": "u%d" % i}
        secrets.append(pw)
    if i % 5 == 0:
        card = random.choice(cards)
        rec["payment"] = {"card": int(card) if card.isdigit() else card}
        secrets.append(card)
    if i % 7 == 0:
        t = tok(24)
        rec["headers"] = [{"name": "Authorization", "value": "Bearer " + t}]
        secrets.append(t)
    lines.append(json.dumps(rec, separators=(",", ":")))
with open("redact_corpus.ndjson", "w") as f:
    f.write("\n".join(lines) + "\n")
with open("redact_secrets.txt", "w") as f:
    f.write("\n".join(json.dumps(s) for s in secrets) + "\n")
