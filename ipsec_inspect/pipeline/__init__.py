"""pipeline layer: where the layers below meet — capture → records → decrypted → tracked
→ audited (see docs/architecture.md)."""
