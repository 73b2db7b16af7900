"""The pilot's pop-ups: the map's context menu and the confirmation box of dangerous commands.

Both are built here and handed back to the window, which keeps the last one (tests drive it)
and supplies the actions as callables; neither blocks the UI (the menu pops up, the box is
window-modal and asynchronous).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from groundstation.console.qt import QMenu, QMessageBox, Qt, QTimer, QWidget

PRIORITIES = ((1, "P1 emergency"), (2, "P2 urgent"), (3, "P3 routine"))


@dataclass(frozen=True)
class MapMenuActions:
    """What the map menu may do at one point, and whether each is allowed now."""

    drone_id: str | None
    radius_m: float
    can_create: bool
    can_goto: bool
    can_orbit: bool
    can_look: bool
    create_incident: Callable[[int], None]
    goto: Callable[[], None]
    orbit: Callable[[], None]
    look_at: Callable[[], None]


def map_menu(parent: QWidget, lat: float, lon: float, acts: MapMenuActions) -> QMenu:
    """The context menu at (lat, lon): create an incident there, go to, orbit, point the camera."""
    menu = QMenu(parent)
    menu.setObjectName("map_menu")
    header = menu.addAction(f"{lat:.5f}, {lon:.5f}")
    if header is not None:
        header.setEnabled(False)
    for prio, name in PRIORITIES:
        action = menu.addAction(f"Create incident here — {name}")
        if action is not None:
            action.setObjectName(f"create_p{prio}")
            action.setEnabled(acts.can_create)
            action.triggered.connect(lambda _c=False, p=prio: acts.create_incident(p))
    menu.addSeparator()
    drone = acts.drone_id or "no drone"
    for name, text, enabled, do in (
        ("goto_here", f"Go to here ({drone})", acts.can_goto, acts.goto),
        ("orbit_here", f"Orbit here, radius {acts.radius_m:.0f} m", acts.can_orbit, acts.orbit),
        ("camera_look_here", f"Point camera here ({drone})", acts.can_look, acts.look_at),
    ):
        action = menu.addAction(text)
        if action is not None:
            action.setObjectName(name)
            action.setEnabled(enabled)
            action.triggered.connect(lambda _c=False, do=do: do())
    # Once the menu is gone the keyboard belongs to the console again (T, G, O... work at
    # once); the offscreen and some X11 setups leave the closed popup the active window.
    menu.aboutToHide.connect(lambda: QTimer.singleShot(0, parent.activateWindow))
    return menu


def confirm_box(
    parent: QWidget,
    title: str,
    text: str,
    action: Callable[[], object],
    closed: Callable[[QMessageBox], None],
) -> QMessageBox:
    """A window-modal Yes/Cancel box (Cancel by default) that runs ``action`` on Yes.

    ``closed`` is called with the box once it is answered, before the box is deleted later.
    """
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setWindowModality(Qt.WindowModality.WindowModal)

    def done(code: int) -> None:
        if code == QMessageBox.StandardButton.Yes.value:
            action()
        box.deleteLater()
        closed(box)

    box.finished.connect(done)
    return box
