/**
 * Local north/east metres around an origin and back (equirectangular on the WGS-84 equatorial
 * radius): exact enough over the few kilometres a swarm spans (error < 0.1 % within 5 km).
 */
const EARTH_RADIUS_M = 6_378_137;
const RAD = Math.PI / 180;

export function offsetToLatLon(originLatDeg: number, originLonDeg: number, n: number, e: number): { latDeg: number; lonDeg: number } {
  return {
    latDeg: originLatDeg + n / EARTH_RADIUS_M / RAD,
    lonDeg: originLonDeg + e / (EARTH_RADIUS_M * Math.cos(originLatDeg * RAD)) / RAD,
  };
}

export function latLonToOffset(originLatDeg: number, originLonDeg: number, latDeg: number, lonDeg: number): { n: number; e: number } {
  return {
    n: (latDeg - originLatDeg) * RAD * EARTH_RADIUS_M,
    e: (lonDeg - originLonDeg) * RAD * EARTH_RADIUS_M * Math.cos(originLatDeg * RAD),
  };
}
