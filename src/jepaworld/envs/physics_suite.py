"""An intuitive-physics suite: short videos of balls (pymunk), in matched possible/impossible pairs.

Each pair is simulated twice from the same sampled scene; the impossible run breaks one law at a
known frame and is pixel-identical to the possible run before it:

* ``permanence``: a ball slides behind a screen and never comes out (``vanish``), or comes out from
  behind a screen nobody saw it enter (``appear``);
* ``continuity``: a ball in flight jumps to another place (teleport);
* ``solidity``: a ball passes through a wall instead of bouncing off it;
* ``gravity``: mid-flight, a ball stops falling (``float``) or falls upward (``up``);
* ``collision``: two balls bounce apart much faster than they met (``faster``) or stop dead (``stop``).

Units: pixels of a ``SIZE`` x ``SIZE`` frame (y down) and seconds; one frame every ``1 / FPS`` s.
The state of a clip is the primary ball's ``[x, y, vx, vy]`` per frame (what ``jepaworld probe`` fits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pymunk

SIZE = 64
FPS = 15
FRAMES = 24
SUBSTEPS = 8
FLOOR_Y = 56.0
GRAVITY = 300.0
VIOLATIONS = ("permanence", "continuity", "solidity", "gravity", "collision")
STATE_NAMES = ("ball_x", "ball_y", "ball_vx", "ball_vy")

BACKGROUND = np.array([22, 24, 30], np.float32)
FLOOR = np.array([110, 100, 90], np.float32)
WALL = np.array([150, 150, 165], np.float32)
SCREEN = np.array([70, 120, 170], np.float32)
PALETTE = np.array(
    [[235, 80, 60], [250, 200, 60], [90, 210, 110], [230, 110, 220], [240, 240, 240], [255, 140, 40]], np.float32
)


@dataclass
class Ball:
    body: pymunk.Body
    shape: pymunk.Circle
    color: np.ndarray
    visible: bool = True


@dataclass
class World:
    """A pymunk space with a floor, side walls, balls, and optional wall and screen rectangles."""

    space: pymunk.Space = field(default_factory=pymunk.Space)
    balls: list[Ball] = field(default_factory=list)
    walls: list[tuple[float, float, float, float]] = field(default_factory=list)  # x0, y0, x1, y1
    wall_shapes: list[pymunk.Shape] = field(default_factory=list)
    screens: list[tuple[float, float, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.space.gravity = (0.0, GRAVITY)
        bounds = [((0, FLOOR_Y), (SIZE, FLOOR_Y)), ((0, -200), (0, SIZE)), ((SIZE, -200), (SIZE, SIZE))]
        for a, b in bounds:
            segment = pymunk.Segment(self.space.static_body, a, b, 0.0)
            segment.elasticity, segment.friction = 0.8, 0.0
            self.space.add(segment)

    def add_ball(self, pos, vel, radius: float, color: np.ndarray, mass: float = 1.0) -> Ball:
        body = pymunk.Body(mass, pymunk.moment_for_circle(mass, 0, radius))
        body.position, body.velocity = tuple(map(float, pos)), tuple(map(float, vel))
        shape = pymunk.Circle(body, radius)
        shape.elasticity, shape.friction = 0.9, 0.0
        self.space.add(body, shape)
        self.balls.append(Ball(body, shape, color))
        return self.balls[-1]

    def add_wall(self, x0: float, y0: float, x1: float, y1: float) -> None:
        shape = pymunk.Poly(self.space.static_body, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        shape.elasticity, shape.friction = 0.9, 0.0
        self.space.add(shape)
        self.walls.append((x0, y0, x1, y1))
        self.wall_shapes.append(shape)

    def step(self) -> None:
        for _ in range(SUBSTEPS):
            self.space.step(1.0 / (FPS * SUBSTEPS))

    def render(self) -> np.ndarray:
        """-> ``[SIZE, SIZE, 3]`` uint8: floor, walls, balls (anti-aliased), then screens in front."""
        centers = np.arange(SIZE, dtype=np.float32) + 0.5
        image = np.broadcast_to(BACKGROUND, (SIZE, SIZE, 3)).copy()
        image[centers >= FLOOR_Y] = FLOOR
        for x0, y0, x1, y1 in self.walls:
            _fill(image, centers, (x0, y0, x1, y1), WALL)
        for ball in self.balls:
            if not ball.visible:
                continue
            (x, y), r = ball.body.position, ball.shape.radius
            distance = np.sqrt((centers[None, :] - x) ** 2 + (centers[:, None] - y) ** 2)
            coverage = np.clip(r + 0.5 - distance, 0.0, 1.0)[..., None]
            image = image * (1 - coverage) + ball.color * coverage
        for rect in self.screens:
            _fill(image, centers, rect, SCREEN)
        return np.rint(image).astype(np.uint8)

    def state(self) -> np.ndarray:
        body = self.balls[0].body if self.balls else None
        if body is None:
            return np.full(4, np.nan, np.float32)
        return np.array([*body.position, *body.velocity], np.float32)


def _fill(image: np.ndarray, centers: np.ndarray, rect, color: np.ndarray) -> None:
    x0, y0, x1, y1 = rect
    inside = ((centers >= y0) & (centers < y1))[:, None] & ((centers >= x0) & (centers < x1))[None, :]
    image[inside] = color


@dataclass(frozen=True)
class Clip:
    """One video: frames ``[T, SIZE, SIZE, 3]`` uint8 and the primary ball's state ``[T, 4]`` (NaN: no ball)."""

    frames: np.ndarray
    state: np.ndarray


@dataclass(frozen=True)
class Pair:
    """A matched pair: identical frames before ``event``, one law broken from ``event`` on."""

    violation: str
    variant: str
    possible: Clip
    impossible: Clip
    event: int


def _color(rng: np.random.Generator, avoid: int | None = None) -> tuple[int, np.ndarray]:
    choices = [i for i in range(len(PALETTE)) if i != avoid]
    index = int(rng.choice(choices))
    return index, PALETTE[index]


def _scene(violation: str, rng: np.random.Generator) -> dict:
    """Sample one scene's parameters (plain numbers, so the possible and impossible runs share them)."""
    radius = float(rng.uniform(3.5, 5.0))
    side = int(rng.choice([-1, 1]))  # +1: moves right
    scene = {"violation": violation, "radius": radius, "side": side, "color": _color(rng)[0]}
    if violation == "permanence":
        scene["variant"] = str(rng.choice(["vanish", "appear"]))
        scene["screen_x"] = float(rng.uniform(22, 28))
        scene["screen_w"] = float(rng.uniform(16, 20))
        scene["speed"] = float(rng.uniform(75, 120))
        scene["start_gap"] = float(rng.uniform(10, 18))  # px between the ball and the screen at the start
        scene["event"] = int(rng.integers(6, 12))  # appear: when the hidden ball starts to move
    elif violation in ("continuity", "gravity"):
        scene["variant"] = "teleport" if violation == "continuity" else str(rng.choice(["float", "up"]))
        scene["x"] = float(rng.uniform(10, 54))
        scene["y"] = float(rng.uniform(14, 34))
        scene["vx"] = float(rng.uniform(30, 80)) * side
        scene["vy"] = float(rng.uniform(-90, 10))
        scene["event"] = int(rng.integers(7, 13))
        scene["jump"] = [float(v) for v in rng.uniform(14, 24, size=2) * rng.choice([-1, 1], size=2)]
    elif violation == "solidity":
        scene["variant"] = "pass_through"
        scene["wall_x"] = float(rng.uniform(28, 34))
        scene["wall_top"] = float(rng.uniform(8, 30))
        scene["speed"] = float(rng.uniform(35, 55))
        scene["start_gap"] = float(rng.uniform(14, 20))
    elif violation == "collision":
        scene["variant"] = str(rng.choice(["faster", "stop"]))
        scene["color2"] = _color(rng, avoid=scene["color"])[0]
        scene["radius2"] = float(rng.uniform(3.5, 5.0))
        scene["gap"] = float(rng.uniform(20, 32))
        scene["center"] = float(rng.uniform(28, 36))
        scene["speeds"] = [float(v) for v in rng.uniform(25, 50, size=2)]
    else:
        raise ValueError(f"unknown violation {violation!r}; expected one of {VIOLATIONS}")
    return scene


def _simulate(scene: dict, violate: bool, frames: int = FRAMES) -> Clip:
    """Run one scene (``violate``: break its law) -> the clip."""
    world, kind, r = World(), scene["violation"], scene["radius"]
    color = PALETTE[scene["color"]]
    if kind == "permanence":
        x0, w = scene["screen_x"], scene["screen_w"]
        world.screens.append((x0, FLOOR_Y - 22, x0 + w, FLOOR_Y))
        if scene["variant"] == "vanish":
            x = x0 - scene["start_gap"] - r if scene["side"] > 0 else x0 + w + scene["start_gap"] + r
            velocity = scene["speed"] * scene["side"]
        else:  # appear: a ball waits behind the screen, unseen, and starts to move at the event
            x, velocity = x0 + w / 2, 0.0
        ball = world.add_ball((x, FLOOR_Y - r), (velocity, 0), r, color)
        world.space.gravity = (0.0, 0.0)  # a ball sliding on the floor; nothing else moves
        if scene["variant"] == "appear" and not violate:
            ball.visible = False
    elif kind in ("continuity", "gravity"):
        world.add_ball((scene["x"], scene["y"]), (scene["vx"], scene["vy"]), r, color)
    elif kind == "solidity":
        x0 = scene["wall_x"]
        world.add_wall(x0, scene["wall_top"], x0 + 5, FLOOR_Y)
        x = x0 - scene["start_gap"] - r if scene["side"] > 0 else x0 + 5 + scene["start_gap"] + r
        world.add_ball((x, FLOOR_Y - r), (scene["speed"] * scene["side"], 0), r, color)
        if violate:
            world.wall_shapes[0].sensor = True  # seen, but nothing collides with it
    else:  # collision: two balls slide towards each other on the floor
        c, gap, r2 = scene["center"], scene["gap"], scene["radius2"]
        world.add_ball((c - gap / 2 - r, FLOOR_Y - r), (scene["speeds"][0], 0), r, color)
        world.add_ball((c + gap / 2 + r2, FLOOR_Y - r2), (-scene["speeds"][1], 0), r2, PALETTE[scene["color2"]])
    collided = False
    out_frames, out_state = [world.render()], [world.state()]
    for t in range(1, frames):
        if kind == "permanence" and scene["variant"] == "appear" and t == scene["event"]:
            world.balls[0].body.velocity = (scene["speed"] * scene["side"], 0.0)
        if violate and kind in ("continuity", "gravity") and t == scene["event"]:
            body = world.balls[0].body
            if kind == "continuity":
                x, y = body.position
                jx, jy = scene["jump"]
                body.position = (float(np.clip(x + jx, r, SIZE - r)), float(np.clip(y + jy, r, FLOOR_Y - r)))
            else:
                world.space.gravity = (0.0, 0.0 if scene["variant"] == "float" else -GRAVITY)
        before = [b.body.velocity.x for b in world.balls]
        world.step()
        if kind == "collision" and not collided and world.balls[0].body.velocity.x * before[0] < 0:
            collided = True  # the balls just met (the first ball's motion reversed)
            if violate:
                factor = 2.5 if scene["variant"] == "faster" else 0.0
                for b in world.balls:
                    b.body.velocity = (b.body.velocity.x * factor, b.body.velocity.y * factor)
        if violate and kind == "permanence" and scene["variant"] == "vanish":
            ball = world.balls[0]
            x0, w = scene["screen_x"], scene["screen_w"]
            x = ball.body.position.x  # hidden: even its anti-aliased edge is behind the screen
            fully_hidden = x0 + 1 <= x - r and x + r + 1 <= x0 + w
            if fully_hidden:
                ball.visible = False  # and it stays hidden
        out_frames.append(world.render())
        out_state.append(world.state())
    return Clip(np.stack(out_frames), np.stack(out_state))


def make_possible(violation: str, rng: np.random.Generator, frames: int = FRAMES) -> Clip:
    """One physically possible clip of the scene family ``violation`` (training data)."""
    scene = _scene(violation, rng)
    if scene["variant"] == "appear":
        scene["variant"] = "vanish"  # an empty screen teaches nothing; train on balls passing behind it
    return _simulate(scene, violate=False, frames=frames)


def make_pair(violation: str, rng: np.random.Generator, frames: int = FRAMES, min_event: int = 5) -> Pair:
    """A matched pair; scenes whose violation would fall outside ``[min_event, frames - 3]`` are redrawn."""
    for _ in range(100):
        scene = _scene(violation, rng)
        possible = _simulate(scene, violate=False, frames=frames)
        impossible = _simulate(scene, violate=True, frames=frames)
        differs = np.flatnonzero(np.any(possible.frames != impossible.frames, axis=(1, 2, 3)))
        if len(differs) and min_event <= differs[0] <= frames - 3:
            return Pair(violation, scene["variant"], possible, impossible, int(differs[0]))
    raise RuntimeError(f"could not draw a {violation} pair with its event in [{min_event}, {frames - 3}]")
