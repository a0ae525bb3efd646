"""`proxyinit inject -f FILE|DIR|-`: manifests in, manifests out with what the App Mesh
controller's webhook injected (like `linkerd inject` and `istioctl kube-inject`), ready for
`kubectl apply -f -`. Stdlib only at module level."""

from __future__ import annotations

import argparse
import re
import sys

_ENDPOINT = re.compile(r"^(unix:///\S+|[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})$")


def register(sub: argparse._SubParsersAction) -> None:
    inject = sub.add_parser(
        "inject",
        help="add the proxyinit init container and Envoy sidecar to workloads, as the App Mesh "
        "controller's webhook did",
    )
    inject.add_argument("-f", "--file", required=True, help="manifests: FILE, DIR or - (stdin)")
    inject.add_argument(
        "--mesh",
        action="append",
        default=[],
        metavar="FILE|DIR",
        help="more manifests read for context only (Mesh, VirtualNodes, Namespaces); repeatable",
    )
    inject.add_argument(
        "--xds-endpoint",
        required=True,
        help="the control plane as the sidecar reaches it (APPMESH_XDS_ENDPOINT): HOST:PORT, "
        "or a comma list of replicas",
    )
    inject.add_argument(
        "--image",
        default=None,
        help="image of both injected containers (default proxyinit:VERSION)",
    )
    inject.add_argument(
        "--cni",
        action="store_true",
        help="no init container and no NET_ADMIN: annotate the pod (proxyinit/redirect) for the "
        "proxyinit CNI plugin, which applies the redirect",
    )
    inject.set_defaults(handler=run_inject)


def run_inject(args: argparse.Namespace) -> int:
    from proxyinit.errors import ConfigError
    from proxyinit.k8s.inject import Options, dump, inject
    from proxyinit.k8s.manifests import read_objects

    # One endpoint, or a comma list of control-plane replicas (the bootstrap checks the rest).
    for element in args.xds_endpoint.split(","):
        if not _ENDPOINT.match(element):
            raise ConfigError(
                f"--xds-endpoint: expected HOST:PORT or unix:///PATH, or a comma list of "
                f"HOST:PORT (got {element!r} in {args.xds_endpoint!r})"
            )
    objs = read_objects(args.file, sys.stdin)
    image = args.image or f"proxyinit:{_version()}"
    context = [obj for path in args.mesh for obj in read_objects(path)]
    result = inject(
        objs, context, Options(xds_endpoint=args.xds_endpoint, image=image, cni=args.cni)
    )
    sys.stdout.write(dump(result.docs))
    for line in result.report:
        print(line, file=sys.stderr)
    return 0


def _version() -> str:
    from importlib.metadata import version

    return version("proxyinit")
