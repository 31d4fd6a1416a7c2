"""Reference outputs from dlib itself (PyPI dlib-bin), for the parity tests of our dlib ResNet port.

Prints one JSON document on stdout.

  dlib_reference.py --recognition-model R descriptors CHIP.png ...
      {"descriptors": [[128 floats], ...]} for already aligned 150x150 RGB chips, computed by
      face_recognition_model_v1.compute_face_descriptor(chip) (no jitter).

  dlib_reference.py --recognition-model R --shape-model S landmarks IMAGE.png ...
      {"faces": [face or null, ...]}: per image, the largest face found by dlib's HOG detector
      (upsampled once), its 5 landmarks from shape_predictor_5_face_landmarks, dlib's own chip
      geometry get_face_chip_details(shape, 150, 0.25) (rect left/top/right/bottom and angle) and
      the descriptor of the chip dlib itself extracts (get_face_chip).

  dlib_reference.py --recognition-model R --shape-model S [--jitters N] faces --files-from LIST
      The same per image, for the images named one per line in LIST (benchmarks: thousands of frames),
      without the chip geometry, with the milliseconds of detection and of landmarks + descriptor; with
      --jitters N > 1 also "jittered", the descriptor dlib averages over N random jitters of the chip
      (compute_face_descriptor(img, shape, N)). Progress goes to stderr.

Images are read with dlib.load_rgb_image; callers pass PNG so both sides see the same pixels.
"""

import argparse
import json
import sys
import time

import dlib

CHIP_SIZE = 150
CHIP_PADDING = 0.25


def descriptors(recognizer, paths):
    out = []
    for path in paths:
        chip = dlib.load_rgb_image(path)
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise SystemExit(f"{path}: expected a {CHIP_SIZE}x{CHIP_SIZE} RGB chip, got {chip.shape}")
        out.append(list(recognizer.compute_face_descriptor(chip)))
    return {"descriptors": out}


def landmarks(recognizer, predictor, paths):
    detector = dlib.get_frontal_face_detector()
    faces = []
    for path in paths:
        image = dlib.load_rgb_image(path)
        found = detector(image, 1)
        if len(found) == 0:
            faces.append(None)
            continue
        box = max(found, key=lambda r: r.width() * r.height())
        shape = predictor(image, box)
        details = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
        chip = dlib.get_face_chip(image, shape, CHIP_SIZE, CHIP_PADDING)
        faces.append(
            {
                "box": [box.left(), box.top(), box.right(), box.bottom()],
                "points": [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
                "chip": {
                    "rect": [details.rect.left(), details.rect.top(), details.rect.right(), details.rect.bottom()],
                    "angle": details.angle,
                },
                "descriptor": list(recognizer.compute_face_descriptor(chip)),
            }
        )
    return {"faces": faces}


def faces(recognizer, predictor, paths, jitters):
    detector = dlib.get_frontal_face_detector()
    out = []
    for n, path in enumerate(paths):
        image = dlib.load_rgb_image(path)
        started = time.perf_counter()
        found = detector(image, 1)
        detected = time.perf_counter()
        if len(found) == 0:
            out.append(None)
        else:
            box = max(found, key=lambda r: r.width() * r.height())
            shape = predictor(image, box)
            descriptor = list(recognizer.compute_face_descriptor(image, shape, 0, CHIP_PADDING))
            described = time.perf_counter()
            face = {
                "box": [box.left(), box.top(), box.right(), box.bottom()],
                "points": [[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)],
                "descriptor": descriptor,
                "ms": {"detect": 1000 * (detected - started), "describe": 1000 * (described - detected)},
            }
            if jitters > 1:
                face["jittered"] = list(recognizer.compute_face_descriptor(image, shape, jitters, CHIP_PADDING))
            out.append(face)
        if (n + 1) % 100 == 0:
            print(f"dlib reference: {n + 1}/{len(paths)} images", file=sys.stderr, flush=True)
    return {"faces": out}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognition-model", required=True)
    parser.add_argument("--shape-model")
    parser.add_argument("--jitters", type=int, default=0)
    parser.add_argument("--files-from")
    parser.add_argument("mode", choices=["descriptors", "landmarks", "faces"])
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.files_from:
        with open(args.files_from, encoding="utf-8") as listing:
            args.files += [line.rstrip("\n") for line in listing if line.strip()]
    if not args.files:
        parser.error("no image files given")
    recognizer = dlib.face_recognition_model_v1(args.recognition_model)
    if args.mode == "descriptors":
        result = descriptors(recognizer, args.files)
    else:
        if not args.shape_model:
            parser.error(f"{args.mode} needs --shape-model (the 5-point predictor)")
        predictor = dlib.shape_predictor(args.shape_model)
        if args.mode == "landmarks":
            result = landmarks(recognizer, predictor, args.files)
        else:
            result = faces(recognizer, predictor, args.files, args.jitters)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
