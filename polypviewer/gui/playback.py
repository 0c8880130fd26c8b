"""Playing a source in the review: a timer that asks for the next frame once the last one is
shown (playback never skips or piles up requests), speed, and jumping between findings.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

STILL_FPS = 4.0  # slideshow speed for folders and datasets


class Playback(QObject):
    def __init__(self, review, transport, timeline):
        super().__init__(review)
        self.review, self.transport, self.timeline = review, transport, timeline
        self.playing = False
        self.speed = 1.0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

    def play(self) -> None:
        r = self.review
        if r.media is None or r.n <= 1:
            return
        if r.shown >= r.n - 1:
            r.seek(0)
        self.playing = True
        if r.live_predict and r.store is not None and not r.store.complete and not r.analysing():
            r.message.emit("Each frame is analysed as it is shown, so playback is slower; "
                           "Analysis → Analyse procedure (Ctrl+R) analyses the video once", False)
        fps = (r.media.fps or STILL_FPS) * self.speed
        self.timer.start(max(1, int(1000 / fps)))
        self.transport.set_playing(True)

    def pause(self) -> None:
        self.playing = False
        self.timer.stop()
        self.transport.set_playing(False)

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        if self.playing:
            self.play()

    def _tick(self) -> None:
        r = self.review
        if r.requested != r.shown:
            return
        if r.shown >= r.n - 1:
            self.pause()
            return
        r.seek(r.shown + 1)

    def jump_finding(self, direction: int) -> None:
        r = self.review
        targets = sorted(f.best_index for f in r.findings.track.findings) if r.findings.track else []
        if not targets:
            targets = [a for a, _ in self.timeline.segments]
        cur = r.shown
        ahead = [t for t in targets if t > cur] if direction > 0 else [t for t in targets if t < cur]
        if ahead:
            r.seek(ahead[0] if direction > 0 else ahead[-1])
        else:
            r.message.emit("No further finding in that direction", False)
