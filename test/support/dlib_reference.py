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

Images are read with dlib.load_rgb_image; callers pass PNG so both sides see the same pixels.
"""

import argparse
import json
import sys

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognition-model", required=True)
    parser.add_argument("--shape-model")
    parser.add_argument("mode", choices=["descriptors", "landmarks"])
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    recognizer = dlib.face_recognition_model_v1(args.recognition_model)
    if args.mode == "descriptors":
        result = descriptors(recognizer, args.files)
    else:
        if not args.shape_model:
            parser.error("landmarks needs --shape-model (the 5-point predictor)")
        result = landmarks(recognizer, dlib.shape_predictor(args.shape_model), args.files)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
