"""The trained model behind cases' CategorySuggester port (wired in bootstrap)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from civicgrid.cases.domain import Category
from civicgrid.cases.ports import CategorySuggester, KeywordSuggester, Suggestion
from civicgrid.insight.classifier import ModelFileError, TextClassifier, load_model


class TrainedSuggester:
    """Suggests from the model at PATH; matches keywords (FALLBACK) while there is none.
    A retrained model replaces the old one on the next suggestion, without a restart: the
    file is checked at most every RECHECK_SECONDS (at once after `reload`). Retraining
    renames a new file over the old one, so a new inode or modification time means a new
    model, whichever server process wrote it."""

    RECHECK_SECONDS = 10.0

    def __init__(self, path: Path, fallback: CategorySuggester | None = None) -> None:
        self.path = path
        self.fallback = fallback or KeywordSuggester()
        self._model: TextClassifier | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def model(self) -> TextClassifier | None:
        import time

        now = time.monotonic()
        if now - self._checked_at < self.RECHECK_SECONDS:
            return self._model
        with self._lock:
            self._checked_at = now
            try:
                found = os.stat(self.path)
                stamp = (found.st_ino, found.st_mtime_ns, found.st_size)
            except OSError:
                self._model, self._stamp = None, None
                return None
            if stamp != self._stamp:
                try:
                    self._model = load_model(self.path)
                except (ModelFileError, OSError, EOFError, ValueError):
                    self._model = None
                self._stamp = stamp
        return self._model

    def reload(self) -> None:
        """Check the file on the next suggestion (this process has just written it)."""
        self._checked_at = float("-inf")

    def suggest(self, text: str, categories: Sequence[Category]) -> list[Suggestion]:
        model = self.model()
        if model is None:
            return self.fallback.suggest(text, categories)
        usable = {c.code for c in categories if c.parent_code is not None and c.active}
        ranked = model.ranked(("", text), limit=len(model.labels))
        found = [Suggestion(code, score) for code, score in ranked if code in usable][:5]
        return found or self.fallback.suggest(text, categories)
