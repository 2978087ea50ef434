"""The person stage: find people, follow each one, segment each in its own crop, one matte.

Per frame (People.run):
1. Detector, when Tracks.detector_due(): one view of the frame (person_crop.detector_views:
   the whole frame letterboxed to 224x224, then squares of its height at the left, the
   middle and the right, in turn) cut and scaled by the hardware, person_detect's decoding.
   Each detection of someone not followed yet (Tracks.follows) becomes a new track with the
   ROI of its keypoints (person_roi.detection_roi), best score first, up to `max_people`.
2. Segmenter, per track: the hardware crop of its ROI (person_crop.plan_crop/crop_input),
   256x256 NV21 -> alpha, 39 landmarks, presence, the heatmaps of the two ROI landmarks. A
   newcomer needs presence `track_presence` (MediaPipe's tracking threshold, 0.5); a
   followed person is kept down to `keep_presence` (0.1): a small or far person's presence
   wavers while the crop is right, and dropping it hands the next frames to a detector
   that finds such people only now and then. Below `track_presence` the person is unsure:
   the detector looks again, a detection of that person scoring REANCHOR_SCORE gives it the
   detection's ROI, its own landmarks do not move the ROI (an occluded person's shrink it
   onto the head), and after MAX_UNSURE unsure frames in a row it is dropped. A person
   whose face landmarks are in the frame but off its own mask (face_on_mask) is not there
   and is dropped: a crop that reaches past the frame's edge is filled with the edge's
   pixels, and in their streaks the landmark model sees a face, sure of it, after the
   person has gone. A kept person's mask is pasted into the matte (maximum over people) and
   its next ROI comes from the refined landmarks 33 and 34 (person_roi.landmarks_roi), as
   MediaPipe's pose tracking does, held while it is within a dead band of the last one
   (person_roi.settle: the crop of someone standing still does not jitter with the
   landmarks).
3. A track that drops (or is unsure) sends the detector to look again in the same frame,
   once, so a person the tracker lost is found again without a frame of empty matte.
4. A detection is a followed person when its box (around the head) holds that person's
   nose: people side by side have overlapping body ROIs, not overlapping heads. Two tracks
   on one person (same_person) become one: the younger goes.
The detector runs only to find newcomers and lost tracks: on every frame while nobody is
followed (one view a frame, in turn), after a track dropped or a detector call failed, and
every `detect_interval` frames while fewer than `max_people` are followed. A pass that finds
someone new looks at the other views in the same frame too (people come in groups: a
newcomer's neighbours do not wait for their view's turn), and so does the first pass after
the start or a scene cut (a new scene's people are found on its first frame).

A detection in a square view whose body is over twice that view's size (person_crop.fits_view)
becomes a track only if the segmenter is sure of it (presence GUESS_PRESENCE): from a piece
of someone at the view's edge the detector guesses a body across the frame.

While nobody is followed, a view in which nothing reaches `detect_score` is decoded again down
to CLOSE_SCORE: a face that fills the frame shows the detector too little body to be sure of
it (and the selfie model, made for faces farther away, sees nothing there). Such a detection
becomes a track only if the segmenter is present at CLOSE_PRESENCE and its face landmarks
span CLOSE_FACE of the frame height; one that is not leaves no trace (the detector is not
sent to look again for it, the views' turn goes on as if it had not been), and a sure
detection of the same person in a later view of the frame takes its place.

Why the views: the detector finds a person by the head. In a 16:9 frame letterboxed to 224
a person at 0.45 of the frame height has a face of a few pixels; a square of the frame's
height shows it 1.8 times as large. Measured on groups of two or three standing people
(tools/evaluate/skill_eval.py suite "multi", 12 scenes): every person found in 16% of the
frames with the whole frame only, 68% with the views.

Failures never stop the loop: a detector call that fails leaves the tracks as they are and
is retried on the next frame; a segmenter call that fails keeps the track's ROI (dropped
after three failures in a row); both can make PersonResult.ok False so the caller falls back
(the selfie model, or the untouched frame). A crop the hardware refuses is made by OpenCV
(logged once a minute, counted as "crop refused").
"""
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from utils import log
from utils import person_crop as pc
from utils import person_detect as pd
from utils import person_roi as pr
from utils.inference import Model, all_finite
from utils.upsample import union

DETECTOR_SIZE = pd.INPUT_SIZE
SEGMENTER_SIZE = pr.LANDMARK_INPUT
DETECTOR_OUTPUTS = (pd.NUM_ANCHORS * 12, pd.NUM_ANCHORS)
SEGMENTER_OUTPUTS = (SEGMENTER_SIZE * SEGMENTER_SIZE, 39 * 5, 1, 2 * 64 * 64)
MAX_FAILURES = 3  # segmenter failures in a row before a track is given up
FACE = 11  # landmarks 0..10: nose, eyes, ears, mouth
REANCHOR_SCORE = 0.7  # a detection this sure gives an unsure track a fresh ROI
MAX_UNSURE = 25  # frames in a row a followed person may stay unsure (1 s at 25 frames/s)
# A person whose face landmarks are in the frame but off its own mask is not there: at least
# FACE_SEEN of them inside the frame, fewer than FACE_ON_MASK of those on the mask (>= 0.5)
FACE_SEEN = 3
FACE_ON_MASK = 0.3
# A detection in a square view whose body is larger than the view (person_crop.fits_view) may
# be a guess from a piece of someone: the segmenter must be this sure before it is followed
GUESS_PRESENCE = 0.9
# A low score while nobody is followed (see the top of this file): the noisy stills' hsd/056,
# a face filling the frame, scores 0.44-0.49 and was found on frame 17 of 40 (one step of
# 0.58 of the frame); its segmenter presence is 0.82 and its face 0.47 of the frame height
# on frame 0, where a mannequin in hsd/156 scoring 0.43 has a face of 0.06-0.14
CLOSE_SCORE = 0.4
CLOSE_PRESENCE = 0.8
CLOSE_FACE = 0.4


def expects(name: str) -> str:
    """What the skill sends to and expects from a person model, for error lines."""
    if name == "detector":
        return ("image NV21 uint8 %d bytes (%dx%d) -> boxes %d + logits %d floats"
                % ((DETECTOR_SIZE * DETECTOR_SIZE * 3 // 2, DETECTOR_SIZE, DETECTOR_SIZE)
                   + DETECTOR_OUTPUTS))
    return ("image NV21 uint8 %d bytes (%dx%d) -> alpha %d + landmarks %d + presence %d + "
            "aux_heatmap %d floats" % ((SEGMENTER_SIZE * SEGMENTER_SIZE * 3 // 2,
                                        SEGMENTER_SIZE, SEGMENTER_SIZE) + SEGMENTER_OUTPUTS))


def check_outputs(outputs, sizes: Tuple[int, ...]) -> str:
    """'' when `outputs` has the sizes expected, else what is wrong."""
    got = tuple(int(np.asarray(o).size) for o in outputs)
    if got != tuple(sizes):
        return "outputs have %s values, expected %s" % (list(got), list(sizes))
    return ""


def box_iou(a: Tuple[float, float, float, float], b: Tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def roi_box(roi: pr.Roi) -> Tuple[float, float, float, float]:
    """The axis-aligned box (normalised x0, y0, x1, y1) around an ROI, ignoring rotation:
    what overlap tests compare (a turned square's own box would grow with the angle)."""
    return (roi.x_center - roi.width / 2.0, roi.y_center - roi.height / 2.0,
            roi.x_center + roi.width / 2.0, roi.y_center + roi.height / 2.0)


class Track(object):
    """One person followed from frame to frame: the ROI to crop next, where the nose was
    (frame-normalised x, y; None until the segmenter has seen the person) or, for a new
    track, the detection's box, the last presence, frames followed, segmenter failures in a
    row."""
    __slots__ = ("id", "roi", "nose", "face", "box", "presence", "age", "failures", "unsure",
                 "guess", "close")

    def __init__(self, track_id: int, roi: pr.Roi, presence: float = 0.0,
                 box: Optional[Tuple[float, float, float, float]] = None, guess: bool = False,
                 close: bool = False):
        self.id = track_id
        self.roi = roi
        self.nose: Optional[Tuple[float, float]] = None
        self.face = 0.0  # the face's size (landmarks 0..10) as a fraction of frame height
        self.box = box
        self.presence = presence
        self.age = 0
        self.failures = 0
        self.unsure = 0  # frames in a row with presence under track_presence
        self.guess = guess  # from a detection larger than its view: see GUESS_PRESENCE
        self.close = close  # from a detection under detect_score: see CLOSE_SCORE

    @property
    def on_trial(self) -> bool:
        """A low score's track (CLOSE_SCORE) the segmenter has not confirmed yet."""
        return self.close and self.age == 0

    def is_detection(self, box: Tuple[float, float, float, float]) -> bool:
        """Is a detection with this box (frame-normalised) this person? The detector's box
        is around the head: it holds this person's nose and not a neighbour's, where the
        body-size ROIs of people side by side overlap a lot."""
        if self.nose is not None:
            x, y = self.nose
            return box[0] <= x <= box[2] and box[1] <= y <= box[3]
        if self.box is None:
            return False
        cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
        b = self.box
        return box_iou(b, box) > 0.3 or (b[0] <= cx <= b[2] and b[1] <= cy <= b[3])

    def __repr__(self):
        return "Track(%d, %r, presence %.2f, age %d)" % (self.id, self.roi, self.presence,
                                                         self.age)


def same_person(a: Track, b: Track, frame_w: int, frame_h: int) -> bool:
    """Two tracks on one person: their ROIs overlap and their noses are within a tenth of
    the smaller ROI's side (people side by side are a shoulder width apart)."""
    if box_iou(roi_box(a.roi), roi_box(b.roi)) <= 0.3:
        return False
    if a.nose is None or b.nose is None:
        return True
    dx = (a.nose[0] - b.nose[0]) * frame_w
    dy = (a.nose[1] - b.nose[1]) * frame_h
    side = min(a.roi.height, b.roi.height) * frame_h
    return dx * dx + dy * dy < (0.1 * side) ** 2


class Tracks(object):
    """What the person stage carries from one frame to the next, and nothing else:
    `people` (the Tracks followed, oldest first), `since_detection` (frames since the
    detector last ran), `detect_next` (the detector must run: a track dropped or is unsure,
    or a detector call failed), `view` (the detector's next view) and `fresh` (no pass since
    the start or a reset: the first looks at every view). One owner: People.
    ROIs are frame-normalised: in frame coordinates, whatever size the matte is made at;
    only a scene cut or a new frame size resets it."""

    def __init__(self):
        self.people: List[Track] = []
        self.since_detection = 0
        self.detect_next = True
        self.view = 0  # the detector's next view (person_crop.detector_views), in turn
        self.fresh = True  # no detector pass since the start or the last reset
        self._next_id = 0

    def reset(self) -> None:
        self.people = []
        self.detect_next = True
        self.fresh = True

    def detector_due(self, interval: int, max_people: int) -> bool:
        return (not self.people or self.detect_next
                or (len(self.people) < max_people and self.since_detection >= interval))

    def detected(self, ok: bool) -> None:
        """A detector pass ran (ok: it worked)."""
        self.since_detection = 0
        self.detect_next = not ok

    def add(self, roi: pr.Roi, score: float, box=None, guess: bool = False,
            close: bool = False) -> Track:
        track = Track(self._next_id, roi, score, box, guess, close)
        self._next_id += 1
        self.people.append(track)
        return track

    def follows(self, box: Tuple[float, float, float, float]) -> bool:
        """Is the person of a detection box already followed?"""
        return any(t.is_detection(box) for t in self.people)

    def withdraw(self, track: Track) -> None:
        """A low score's track (CLOSE_SCORE) goes as if never detected: the detector is not
        sent to look again for it."""
        self.people.remove(track)

    def drop(self, track: Track) -> None:
        """A followed person lost: the detector looks again next."""
        self.withdraw(track)
        self.detect_next = True

    def merge(self, frame_w: int, frame_h: int) -> int:
        """Drops the younger of two tracks on the same person (same_person); returns how
        many went."""
        kept: List[Track] = []
        for t in self.people:  # oldest first: the older track wins
            if not any(same_person(t, k, frame_w, frame_h) for k in kept):
                kept.append(t)
        gone = len(self.people) - len(kept)
        self.people = kept
        return gone


class PersonResult(NamedTuple):
    """What the person stage did for one frame."""
    ok: bool  # every model call it needed worked (False: the caller falls back)
    people: int  # people segmented into the matte
    face: float  # the largest face (landmarks 0..10) of a segmented person, in frame heights
    calls: Dict[str, int]  # hilens infer calls per model ("detector", "segmenter")
    ms: Dict[str, float]  # their wall time
    events: Tuple[str, ...]  # what went wrong (counted by the run summary)
    box: Tuple[int, int, int, int] = (0, 0, 0, 0)  # the canvas is 0 outside (x0, y0, x1, y1)
    # the ROIs of the people segmented, as roi_box()es: where the person stage looks next
    rois: Tuple[Tuple[float, float, float, float], ...] = ()


class People(object):
    """run(frame, canvas) segments the people of an NV21 frame into `canvas`.

    `detector`, `segmenter`: hilens.Model-likes; `pre`: a hilens.Preprocessor (None: OpenCV
    only). `rotate`: turn the crop of a person who leans by more than 10 degrees upright, as
    MediaPipe does (one small CPU warp; DAVIS breakdance 0.84 -> 0.91 IoU); False keeps every
    crop upright. `zoom`: the detector's square views besides the whole frame.
    `paste_floor`: mask values at or below it may be left out of the canvas (the caller
    shows them as 0: pipeline's `threshold_low`; left out, they do not enter the matte
    history either, where unsure values are blended), so each paste covers the
    person, not its whole ROI (person_crop.paste_max)."""

    def __init__(self, detector, segmenter, pre=None, max_people: int = 3,
                 detect_interval: int = 10, detect_score: float = pd.MIN_SCORE,
                 track_presence: float = 0.5, keep_presence: float = 0.1,
                 rotate: bool = True, zoom: bool = True, paste_floor: float = 0.0):
        self.detector = Model(detector, "person detector", expects("detector"))
        self.segmenter = Model(segmenter, "person segmenter", expects("segmenter"))
        self.pre = pre
        self.max_people = int(max_people)
        self.detect_interval = int(detect_interval)
        self.detect_score = float(detect_score)
        self.track_presence = float(track_presence)
        self.keep_presence = min(float(keep_presence), self.track_presence)
        self.rotate = bool(rotate)
        self.paste_floor = float(paste_floor)
        self.tracks = Tracks()
        self.anchors = pd.ssd_anchors()
        self.det_input = pc.black_square(DETECTOR_SIZE)
        self.seg_input = pc.black_square(SEGMENTER_SIZE)
        self.paste_buffers = pc.PasteBuffers()
        self.zoom = bool(zoom)
        self.views = None
        self.views_size = None
        self._refused = log.Throttle(60.0)

    def reset(self) -> None:
        self.tracks.reset()

    # -- the two models -----------------------------------------------------------------
    def _detect(self, frame, w, h, stats
                ) -> Optional[Tuple[pd.Detections, np.ndarray, bool]]:
        """One detector pass on the next view (person_crop.detector_views) -> detections
        in frame-normalised coordinates, which of them fit their view
        (person_crop.fits_view; all do in the whole frame's) and whether they are low
        scores (under `detect_score`, down to CLOSE_SCORE: all or none of a view's), or None
        when the call failed."""
        if self.views is None or self.views_size != (w, h):
            self.views = pc.detector_views(w, h, DETECTOR_SIZE) if self.zoom else \
                pc.detector_views(w, h, DETECTOR_SIZE)[:1]
            self.views_size = (w, h)
            self.det_input = pc.black_square(DETECTOR_SIZE)
        view = self.views[self.tracks.view % len(self.views)]
        self.tracks.view += 1
        if pc.view_input(frame, view, self.pre, self.det_input):
            self._note_refused(stats, "detector view %dx%d at %d,%d of %dx%d"
                               % (view.w, view.h, view.x, view.y, w, h))
        result = self._run(self.detector, "detector", self.det_input, stats)
        if not result.ok:
            return None
        error = check_outputs(result.value, DETECTOR_OUTPUTS)
        if error:
            self.detector.fail(error)
            stats["events"].append("detector failed")
            return None
        dets = pd.detect(result.value[0], result.value[1], self.anchors, view.plan.padding,
                         self.detect_score)
        close = len(dets.scores) == 0 and not self.tracks.people and \
            CLOSE_SCORE < self.detect_score
        if close:  # (see CLOSE_SCORE)
            dets = pd.detect(result.value[0], result.value[1], self.anchors,
                             view.plan.padding, CLOSE_SCORE)
        if view is self.views[0]:
            return dets, np.ones(len(dets.scores), bool), close
        fits = pc.fits_view(dets.keypoints, view, pr.ROI_SCALE)
        boxes = pc.view_to_frame(dets.boxes.reshape(-1, 2, 2), view, w, h).reshape(-1, 4)
        return pd.Detections(dets.scores, boxes,
                             pc.view_to_frame(dets.keypoints, view, w, h)), fits, close

    def _run(self, model, name, image, stats):
        result = model.run([image.reshape(-1)])
        stats["calls"][name] += 1
        stats["ms"][name] += result.ms
        if not result.ok:
            model.fail(result.error)
            stats["events"].append("%s failed" % name)
        return result

    def _note_refused(self, stats, what):
        stats["events"].append("crop refused")
        self._refused("warning", "person stage: the hardware refused the crop/resize of the %s; "
                                 "OpenCV made it (slower on the device)" % what)

    def _segment(self, frame, w, h, track, canvas, stats) -> str:
        """Segments one person into the canvas: 'ok', 'lost' (presence too low or the ROI
        left the frame), 'rejected' (a low score, CLOSE_SCORE, that is not a close face) or
        'failed'."""
        outcome, mask, plan = self._segment_once(frame, w, h, track, stats)
        if outcome == "lost" and track.on_trial:
            return "rejected"
        if outcome == "ok":
            box = pc.paste_max(mask, plan, w, h, canvas, self.paste_floor, self.paste_buffers)
            if box is not None:
                stats["box"] = union(stats["box"], box)
        return outcome

    def _segment_once(self, frame, w, h, track, stats):
        """(outcome, mask, plan) of one segmenter call in the track's ROI, which it moves
        on to the landmarks' ROI for the next call."""
        plan = pc.plan_crop(track.roi, w, h, SEGMENTER_SIZE, self.rotate)
        if plan is None:
            return "lost", None, None
        if pc.crop_input(frame, plan, self.pre, self.seg_input):
            self._note_refused(stats, "person crop %dx%d at %d,%d" % (plan.w, plan.h, plan.x,
                                                                      plan.y))
        result = self._run(self.segmenter, "segmenter", self.seg_input, stats)
        if result.ok:
            error = check_outputs(result.value, SEGMENTER_OUTPUTS)
            if error:
                self.segmenter.fail(error)
                stats["events"].append("segmenter failed")
                return "failed", None, None
        else:
            return "failed", None, None
        alpha, raw, presence, aux = result.value
        track.presence = float(presence[0])
        # a newcomer must be sure; a followed person stays until presence is very low
        if track.age > 0:
            keep = self.keep_presence
        elif track.close:
            keep = max(self.track_presence, CLOSE_PRESENCE)
        else:
            keep = max(self.track_presence, GUESS_PRESENCE if track.guess else 0.0)
        if not np.isfinite(track.presence) or track.presence < keep:
            return "lost", None, None
        if track.presence < self.track_presence:
            track.unsure += 1
            if track.unsure > MAX_UNSURE:
                return "lost", None, None
            self.tracks.detect_next = True  # unsure: the detector checks (see run)
        else:
            track.unsure = 0
        s = SEGMENTER_SIZE
        mask = alpha.reshape(s, s)
        if not all_finite(mask):
            self.segmenter.fail("alpha has NaN/inf values")
            stats["events"].append("segmenter failed")
            return "failed", None, None
        # Next ROI: landmarks 33 and 34, refined on their heatmaps, back in the frame; the
        # nose (landmark 0) tells this person from a neighbour's detection.
        first, last = pr.AUX_LANDMARKS[0], pr.AUX_LANDMARKS[-1] + 1
        xy = pr.landmarks_xy(np.concatenate([raw[:FACE * 5], raw[first * 5:last * 5]]))
        xy[FACE:] = pr.refine_from_heatmap(xy[FACE:], aux.reshape(2, 64, 64))
        pts = pc.to_frame(xy * s, plan.to_input)
        if not np.isfinite(pts).all() or not face_on_mask(xy[:FACE] * s, pts[:FACE], mask, w, h):
            return "lost", None, None
        face = pts[:FACE]
        fx, fy = face.T.tolist()  # (Python numbers: np.ptp is two numpy calls each)
        track.face = float(max(max(fx) - min(fx), max(fy) - min(fy))) / h
        if track.on_trial and track.face < CLOSE_FACE:
            return "lost", None, None  # a low score and not the close face it might be
        pts /= np.array([w, h], np.float64)
        if track.unsure == 0:
            # An unsure person's landmarks do not move the ROI: behind an obstacle they
            # shrink it onto the head, and the tracker never lets go of that (a far child
            # passing a table leg: 0.32 IoU standing; held, 0.92)
            track.roi = pr.settle(track.roi, pr.landmarks_roi(pts[FACE:], w, h), w, h)
            track.nose = (float(pts[0, 0]), float(pts[0, 1]))
        return "ok", mask, plan

    # -- the frame ------------------------------------------------------------------------
    def _find(self, frame, w, h, stats, every: bool = False) -> List[Track]:
        """A detector pass on the next view; when it finds someone new, on the first
        frame after the start or a scene cut, or with `every` (a track was just lost), the
        other views too, in the same frame (people come in groups, and a newcomer's
        neighbours should not wait for their view's turn; a new scene's people are found on
        its first frame, not over four: a photo, one frame each, 0.818 -> 0.839 IoU with the
        person stage alone; someone the segmenter lost is looked for where they are, not in
        whichever view's turn it is). Returns the new tracks."""
        stats["detected"] = True
        start = self.tracks.view
        new = self._find_once(frame, w, h, stats)
        worked = not self.tracks.detect_next  # (a failed call leaves the detector due)
        fresh = self.tracks.fresh and worked
        if worked:
            self.tracks.fresh = False
        # (a low score's track, CLOSE_SCORE, is not someone new until the segmenter says so)
        if any(not t.close for t in new) or fresh or (every and worked):
            for _ in range(len(self.views) - 1):
                new += self._find_once(frame, w, h, stats)
            if fresh and all(t.close for t in new):
                self.tracks.view = start + 1  # an empty first frame: the turn goes on
        # (a later view's sure detection may have withdrawn an earlier view's low score)
        return [t for t in new if t in self.tracks.people]

    def _find_once(self, frame, w, h, stats) -> List[Track]:
        found = self._detect(frame, w, h, stats)
        new: List[Track] = []
        if found is None:
            self.tracks.detected(False)
            return new
        dets, fits, close = found
        for k in range(len(dets.scores)):
            box = tuple(float(v) for v in dets.boxes[k])
            known = [t for t in self.tracks.people if t.is_detection(box)]
            if not close:
                # a sure detection takes the place of a low score's track (CLOSE_SCORE) that
                # an earlier view of this frame gave and the segmenter has not seen yet
                for t in [t for t in known if t.on_trial]:
                    self.tracks.withdraw(t)
                    known.remove(t)
            if known:
                t = known[0]
                if t.presence < self.track_presence and dets.scores[k] >= REANCHOR_SCORE:
                    t.roi = pr.detection_roi(dets.keypoints[k], w, h)  # unsure: re-anchor
                continue
            if len(self.tracks.people) >= self.max_people:
                continue
            roi = pr.detection_roi(dets.keypoints[k], w, h)
            new.append(self.tracks.add(roi, float(dets.scores[k]), box, not fits[k],
                                       close))
        self.tracks.detected(True)
        return new

    def run(self, frame: np.ndarray, canvas: np.ndarray,
            dirty: Optional[Tuple[int, int, int, int]] = None) -> PersonResult:
        """frame: NV21 (H*3/2, W) uint8; canvas: float32 (ch, cw), the matte of the whole
        frame at its own scale, zeroed here and filled with the people found. `dirty`
        (x0, y0, x1, y1): a box the canvas is 0 outside already, when the caller knows it
        (only that box is zeroed: a whole matte-size fill each frame is memory to bring into
        the cache for nothing); None: the whole canvas."""
        w, h = frame.shape[1], frame.shape[0] * 2 // 3
        if dirty is None:
            canvas.fill(0.0)
        else:
            canvas[dirty[1]:dirty[3], dirty[0]:dirty[2]].fill(0.0)
        stats = {"calls": {"detector": 0, "segmenter": 0},
                 "ms": {"detector": 0.0, "segmenter": 0.0}, "events": [], "detected": False,
                 "box": (0, 0, 0, 0)}
        tracks = self.tracks
        todo = list(tracks.people)
        if tracks.detector_due(self.detect_interval, self.max_people):
            todo += self._find(frame, w, h, stats)
        done: List[Track] = []
        failed = False
        dropped = False
        while todo:
            for track in todo:
                outcome = self._segment(frame, w, h, track, canvas, stats)
                if outcome == "ok":
                    track.failures = 0
                    track.age += 1
                    done.append(track)
                elif outcome == "rejected":
                    tracks.withdraw(track)  # a low score that was not a close face
                elif outcome == "failed":
                    failed = True
                    track.failures += 1
                    if track.failures >= MAX_FAILURES:
                        tracks.drop(track)
                else:
                    tracks.drop(track)
                    dropped = True
            # a track lost this frame: look again now (once), rather than a frame later
            todo = []
            if tracks.detect_next and not stats["detected"] and \
                    len(tracks.people) < self.max_people:
                todo = self._find(frame, w, h, stats, every=dropped)
        tracks.since_detection += 1
        tracks.merge(w, h)
        alive = set(id(t) for t in tracks.people)
        done = [t for t in done if id(t) in alive]
        face = max([t.face for t in done] or [0.0])
        # ok: every followed person is in the matte and, when nobody is, the detector
        # really looked (a failed detector with people followed only delays newcomers)
        ok = not failed and (bool(done) or "detector failed" not in stats["events"])
        return PersonResult(ok, len(done), face, stats["calls"], stats["ms"],
                            tuple(stats["events"]), stats["box"],
                            tuple(roi_box(t.roi) for t in done))


def face_on_mask(face_px: np.ndarray, face_frame: np.ndarray, mask: np.ndarray,
                 frame_w: int, frame_h: int) -> bool:
    """Do the face landmarks agree with the mask? face_px: the face landmarks (FACE x 2) in
    the crop's pixels, face_frame: the same in frame pixels, mask: the crop's alpha. False
    when at least FACE_SEEN of them are inside the frame and fewer than FACE_ON_MASK of those
    lie on the mask: the landmark model saw a face in the streaks of the replicated border
    at the frame's edge after the person had left (one-by-one-person-detection.mp4: a track
    kept 55 frames with presence 0.8-1.0 on an empty room, 0/11 face landmarks on its mask,
    where a person in view has 11/11)."""
    # (eleven points: Python numbers, not a dozen numpy calls on arrays of eleven)
    last = mask.shape[0] - 1
    seen = on = 0
    for (u, v), (x, y) in zip(face_px.tolist(), face_frame.tolist()):
        if 0 <= x < frame_w and 0 <= y < frame_h:
            seen += 1
            # the crop pixel: clipped into the mask, then truncated (as numpy's clip and
            # astype(int32) do it)
            if mask[int(min(max(v, 0), last)), int(min(max(u, 0), last))] >= 0.5:
                on += 1
    if seen < FACE_SEEN:
        return True  # the face is out of the frame (a bust cut at the top): nothing to check
    return on >= FACE_ON_MASK * seen


def _probe(model, name, path, size, outputs):
    """One call on a black input at load time: a model that does not take what the skill
    sends, or gives other outputs, is named now rather than on every frame."""
    wrapped = Model(model, name, expects(name.split()[-1]))
    result = wrapped.run([pc.black_square(size).reshape(-1)])
    error = result.error or check_outputs(result.value, outputs)
    if error:
        raise ValueError("the %s %s does not fit: %s; expected %s"
                         % (name, path, error, expects(name.split()[-1])))


def open_people(cfg, load, pre) -> People:
    """The person stage of a config: `load(path, what)` loads a model through hilens (or
    raises ValueError naming it); each model is probed once (see _probe)."""
    detector = load(cfg.detector_model, "person detector")
    _probe(detector, "person detector", cfg.detector_model, DETECTOR_SIZE, DETECTOR_OUTPUTS)
    segmenter = load(cfg.segmenter_model, "person segmenter")
    _probe(segmenter, "person segmenter", cfg.segmenter_model, SEGMENTER_SIZE,
           SEGMENTER_OUTPUTS)
    return People(detector, segmenter, pre, max_people=cfg.max_people,
                  detect_interval=cfg.detect_interval, detect_score=cfg.detect_score,
                  track_presence=cfg.track_presence, keep_presence=cfg.keep_presence,
                  paste_floor=cfg.threshold_low if cfg.threshold else 0.0)
