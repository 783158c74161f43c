#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The map data flowcollector embeds, made at build time from two npm packages:

  world-atlas (ISC; Natural Earth's public-domain admin-0 data as TopoJSON) and
  i18n-iso-countries (MIT; ISO 3166-1 codes and English names).

Writes into OUT_DIR:
  land.txt       the report's coastlines (land-110m): one closed ring per line, a name,
                 then longitude,latitude pairs in degrees, rounded to 0.1 degree
  countries.tsv  CODE, latitude, longitude, name for every ISO 3166-1 alpha-2 code, and the
                 regional codes geolocation files use (EU, AP, ...) with no coordinates.

A country's point is inside its largest polygon (countries-50m): the middle of the widest
stretch of land along the parallel through the polygon's centroid. So France sits in France,
not between Paris and French Guiana, and New Zealand, Kiribati or Fiji where they are.

Usage: map_data.py WORLD_ATLAS_DIR I18N_ISO_COUNTRIES_DIR OUT_DIR
"""
import json
import math
import os
import sys

# Codes of geolocation files that name no country: listed apart, never drawn.
REGIONAL = {
    "EU": "European Union (no single country)",
    "AP": "Asia/Pacific (no single country)",
    "A1": "Anonymous proxy",
    "A2": "Satellite provider",
    "O1": "Other",
}

# The name people use where the package's first is the formal one.
SHORT_NAMES = {
    "CN": "China", "CD": "DR Congo", "CG": "Congo", "CZ": "Czechia", "IR": "Iran",
    "MK": "North Macedonia", "PS": "Palestine", "RU": "Russia", "TW": "Taiwan",
    "TZ": "Tanzania", "US": "United States",
}


def decode_arcs(topology):
    """TopoJSON arcs to absolute longitude, latitude points (quantized, delta-encoded)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(arcs, ring):
    points = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        # consecutive arcs share their end point
        points.extend(arc if not points else arc[1:])
    return points


def polygons(arcs, geometry):
    """Each polygon as its rings of points, the outer ring first."""
    if geometry["type"] == "Polygon":
        return [[ring_points(arcs, r) for r in geometry["arcs"]]]
    if geometry["type"] == "MultiPolygon":
        return [[ring_points(arcs, r) for r in p] for p in geometry["arcs"]]
    return []


def area_and_centroid(ring):
    """Planar area (degrees squared, weighted by cos(latitude)) and centroid of a ring."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-12:
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        return 0.0, (sum(xs) / len(xs), sum(ys) / len(ys))
    cx, cy = cx / (3 * a), cy / (3 * a)
    return abs(a) / 2 * math.cos(math.radians(cy)), (cx, cy)


def point_inside(rings, centroid):
    """The centroid when it is on land; else the middle of the widest stretch of the polygon
    along the centroid's parallel (a crescent's centroid falls outside it)."""
    cx, cy = centroid
    crossings = []
    for ring in rings:
        for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]):
            if (y0 > cy) != (y1 > cy):
                crossings.append(x0 + (cy - y0) * (x1 - x0) / (y1 - y0))
    crossings.sort()
    stretches = [(crossings[i], crossings[i + 1]) for i in range(0, len(crossings) - 1, 2)]
    if not stretches or any(left <= cx <= right for left, right in stretches):
        return cx, cy
    left, right = max(stretches, key=lambda s: s[1] - s[0])
    return (left + right) / 2, cy


def unwrapped(ring):
    """A ring with continuous longitudes: past a jump of more than 180 degrees between two
    points (the antimeridian: Chukotka, Fiji) it goes on beyond +-180 instead."""
    out, offset = [ring[0]], 0.0
    for (x0, _), (x1, y1) in zip(ring, ring[1:]):
        if x1 - x0 > 180:
            offset -= 360
        elif x0 - x1 > 180:
            offset += 360
        out.append((x1 + offset, y1))
    return out


def country_points(topology, numeric_to_code, name_to_code):
    """Each code's point in its largest polygon. A code may have several geometries (Natural
    Earth gives Australia's number to Ashmore and Cartier Islands too): the largest wins."""
    arcs = decode_arcs(topology)
    best = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        code = numeric_to_code.get(geometry.get("id")) or \
            name_to_code.get(geometry.get("properties", {}).get("name"))
        if not code:
            continue
        for rings in polygons(arcs, geometry):
            if len(rings[0]) < 3:
                continue
            rings = [unwrapped(r) for r in rings]
            area, centroid = area_and_centroid(rings[0])
            if code not in best or area > best[code][0]:
                best[code] = (area, rings, centroid)
    points = {}
    for code, (_, rings, centroid) in best.items():
        lon, lat = point_inside(rings, centroid)
        points[code] = (lon - 360 if lon >= 180 else lon, lat)
    return points


def land_lines(topology):
    """Rings as lines. A ring across the antimeridian (Chukotka, Fiji) is written twice,
    with continuous longitudes and again shifted by 360 degrees: the map's frame cuts each
    copy at 180 degrees, where drawn as it comes it would be a stripe across the map."""
    arcs = decode_arcs(topology)
    rings = []
    for geometry in topology["objects"]["land"]["geometries"]:
        for polygon in polygons(arcs, geometry):
            for ring in polygon:
                if any(abs(x1 - x0) > 180 for (x0, _), (x1, _) in zip(ring, ring[1:])):
                    ring = unwrapped(ring)
                    shift = 360 if max(x for x, _ in ring) > 180 else -360
                    rings += [ring, [(x - shift, y) for x, y in ring]]
                else:
                    rings.append(ring)
    lines = []
    for ring in rings:
        pairs = []
        for x, y in ring:
            pair = f"{x:.1f},{y:.1f}".replace("-0.0", "0.0")
            if not pairs or pairs[-1] != pair:
                pairs.append(pair)
        if len(pairs) >= 4:
            lines.append(f"land{len(lines) + 1} " + " ".join(pairs))
    return lines


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: map_data.py WORLD_ATLAS_DIR I18N_ISO_COUNTRIES_DIR OUT_DIR")
    atlas, i18n, out = argv[1:]
    with open(os.path.join(i18n, "codes.json")) as f:
        codes = json.load(f)
    with open(os.path.join(i18n, "langs", "en.json")) as f:
        names = json.load(f)["countries"]
    names = {code: name[0] if isinstance(name, list) else name for code, name in names.items()}
    numeric_to_code = {numeric: alpha2 for alpha2, _, numeric, *_ in codes}
    name_to_code = {name: code for code, name in names.items()}
    with open(os.path.join(atlas, "countries-50m.json")) as f:
        points = country_points(json.load(f), numeric_to_code, name_to_code)
    with open(os.path.join(atlas, "land-110m.json")) as f:
        land = land_lines(json.load(f))
    if len(points) < 200 or len(land) < 50:
        sys.exit(f"map_data.py: only {len(points)} countries placed and {len(land)} land "
                 "rings: not the expected packages")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "countries.tsv.tmp"), "w") as f:
        f.write("# code\tlatitude\tlongitude\tname: Natural Earth (world-atlas), "
                "i18n-iso-countries\n")
        for code in sorted(set(names) | set(REGIONAL)):
            name = REGIONAL.get(code) or SHORT_NAMES.get(code) or names[code]
            if code in points:
                lon, lat = points[code]
                f.write(f"{code}\t{lat:.2f}\t{lon:.2f}\t{name}\n")
            else:
                f.write(f"{code}\t\t\t{name}\n")
    with open(os.path.join(out, "land.txt.tmp"), "w") as f:
        f.write("# Land outlines: Natural Earth 1:110m (public domain) via world-atlas (ISC)\n")
        f.write("\n".join(land) + "\n")
    os.replace(os.path.join(out, "countries.tsv.tmp"), os.path.join(out, "countries.tsv"))
    os.replace(os.path.join(out, "land.txt.tmp"), os.path.join(out, "land.txt"))


if __name__ == "__main__":
    main(sys.argv)
