"""CLI sub-command ``data convert``: ModelNet40 distributions -> ``<data>/modelnet40/{train,test}.npz``."""

from __future__ import annotations

import argparse
import json

from tinvnn.paths import data_dir
from tinvnn.tasks.classification.convert import FORMATS, UP_AXES, convert_modelnet40

__all__ = ["register"]

_EPILOG = """\
formats and their up axis (see docs/data.md):
  hdf5              modelnet40_ply_hdf5_2048/ (PointNet): ply_data_*.h5, shape_names.txt     --up y
  normal_resampled  modelnet40_normal_resampled/ (PointNet++): <class>/<id>.txt with normals --up y
  off               ModelNet40/ (original meshes): <class>/{train,test}/*.off, sampled       --up z

example:
  tinvnn data convert modelnet40_ply_hdf5_2048 --format hdf5 --up y --out data/modelnet40
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``data convert`` to the tinvnn parser."""
    data = sub.add_parser("data", help="convert public datasets to tinvnn's layout")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser(
        "convert",
        help="ModelNet40 (HDF5, normal_resampled text, OFF meshes) -> train.npz, test.npz",
        description="Convert a ModelNet40 distribution to <out>/{train,test}.npz: points (S, N, 3) with z "
        "up, centred and scaled into the unit ball; normals (S, N, 3); labels (S,); classes (C,).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="the unpacked distribution's folder")
    p.add_argument("--format", required=True, choices=FORMATS, help="which distribution SOURCE is")
    p.add_argument("--up", required=True, choices=UP_AXES, help="SOURCE's vertical axis (y for the PointNet releases)")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="output folder (default: <data dir>/modelnet40, where tinvnn reads it)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data directory for the default --out (default: $TINVNN_DATA, else ./data)",
    )
    p.add_argument(
        "--points",
        type=int,
        default=1024,
        metavar="N",
        help="points per shape (first N; sampled for off) (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the mesh sampling (off) (default: %(default)s)",
    )
    p.add_argument(
        "--overwrite",
        "--force",
        dest="overwrite",
        action="store_true",
        help="replace existing output files (all or none: a failure replaces nothing)",
    )
    p.add_argument("--json", action="store_true", help='print {"train": path, "test": path} as JSON')
    p.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else data_dir(args.data_dir) / "modelnet40"
    paths = convert_modelnet40(
        args.source, args.format, out, up=args.up, points=args.points, seed=args.seed, overwrite=args.overwrite
    )
    if args.json:
        print(json.dumps({split: str(path) for split, path in paths.items()}))
    else:
        print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0
