/**
 * Where the sun is and how much light a clear sky gives, at the site: what the power budget
 * forecasts from, and what the simulator's sky starts from.
 *
 * - `solarPosition`: the NREL Solar Position Algorithm (SPA), I. Reda & A. Andreas, "Solar Position
 *   Algorithm for Solar Radiation Applications", NREL/TP-560-34302 (2003, rev. 2008), Solar Energy
 *   76(5) 577–589 (2004). Equation numbers below refer to section 3 of that report; the periodic
 *   term tables are its Tables A4.2 (Earth L/B/R, from VSOP87) and A4.3 (nutation).
 *   Stated uncertainty ±0.0003° for years −2000..6000.
 * - `haurwitzGhi`: B. Haurwitz (1945), clear-sky GHI, as in pvlib `clearsky.haurwitz`.
 * - `ineichenPerez`: P. Ineichen & R. Perez (2002), "A new airmass independent formulation for the
 *   Linke turbidity coefficient", Solar Energy 73(3) 151–157, as implemented in pvlib
 *   `clearsky.ineichen` (with pvlib's airmass, pressure and extraterrestrial helpers).
 * - `clearSky`: both at one site.
 */

const DEG = Math.PI / 180;
const sind = (x: number): number => Math.sin(x * DEG);
const cosd = (x: number): number => Math.cos(x * DEG);
const tand = (x: number): number => Math.tan(x * DEG);
const asind = (x: number): number => Math.asin(x) / DEG;
const atan2d = (y: number, x: number): number => Math.atan2(y, x) / DEG;

/** Wrap to [0, 360). */
function limitDegrees(deg: number): number {
  const d = deg % 360;
  return d < 0 ? d + 360 : d;
}

// ---------------------------------------------------------------------------------------------
// Table A4.2: Earth periodic terms [A, B, C]; each term is A·cos(B + C·JME).
// ---------------------------------------------------------------------------------------------
type Term = readonly [number, number, number];

const L_TERMS: readonly (readonly Term[])[] = [
  [ // L0
    [175347046, 0, 0], [3341656, 4.6692568, 6283.07585], [34894, 4.6261, 12566.1517],
    [3497, 2.7441, 5753.3849], [3418, 2.8289, 3.5231], [3136, 3.6277, 77713.7715],
    [2676, 4.4181, 7860.4194], [2343, 6.1352, 3930.2097], [1324, 0.7425, 11506.7698],
    [1273, 2.0371, 529.691], [1199, 1.1096, 1577.3435], [990, 5.233, 5884.927],
    [902, 2.045, 26.298], [857, 3.508, 398.149], [780, 1.179, 5223.694],
    [753, 2.533, 5507.553], [505, 4.583, 18849.228], [492, 4.205, 775.523],
    [357, 2.92, 0.067], [317, 5.849, 11790.629], [284, 1.899, 796.298],
    [271, 0.315, 10977.079], [243, 0.345, 5486.778], [206, 4.806, 2544.314],
    [205, 1.869, 5573.143], [202, 2.458, 6069.777], [156, 0.833, 213.299],
    [132, 3.411, 2942.463], [126, 1.083, 20.775], [115, 0.645, 0.98],
    [103, 0.636, 4694.003], [102, 0.976, 15720.839], [102, 4.267, 7.114],
    [99, 6.21, 2146.17], [98, 0.68, 155.42], [86, 5.98, 161000.69],
    [85, 1.3, 6275.96], [85, 3.67, 71430.7], [80, 1.81, 17260.15],
    [79, 3.04, 12036.46], [75, 1.76, 5088.63], [74, 3.5, 3154.69],
    [74, 4.68, 801.82], [70, 0.83, 9437.76], [62, 3.98, 8827.39],
    [61, 1.82, 7084.9], [57, 2.78, 6286.6], [56, 4.39, 14143.5],
    [56, 3.47, 6279.55], [52, 0.19, 12139.55], [52, 1.33, 1748.02],
    [51, 0.28, 5856.48], [49, 0.49, 1194.45], [41, 5.37, 8429.24],
    [41, 2.4, 19651.05], [39, 6.17, 10447.39], [37, 6.04, 10213.29],
    [37, 2.57, 1059.38], [36, 1.71, 2352.87], [36, 1.78, 6812.77],
    [33, 0.59, 17789.85], [30, 0.44, 83996.85], [30, 2.74, 1349.87],
    [25, 3.16, 4690.48],
  ],
  [ // L1
    [628331966747, 0, 0], [206059, 2.678235, 6283.07585], [4303, 2.6351, 12566.1517],
    [425, 1.59, 3.523], [119, 5.796, 26.298], [109, 2.966, 1577.344],
    [93, 2.59, 18849.23], [72, 1.14, 529.69], [68, 1.87, 398.15],
    [67, 4.41, 5507.55], [59, 2.89, 5223.69], [56, 2.17, 155.42],
    [45, 0.4, 796.3], [36, 0.47, 775.52], [29, 2.65, 7.11],
    [21, 5.34, 0.98], [19, 1.85, 5486.78], [19, 4.97, 213.3],
    [17, 2.99, 6275.96], [16, 0.03, 2544.31], [16, 1.43, 2146.17],
    [15, 1.21, 10977.08], [12, 2.83, 1748.02], [12, 3.26, 5088.63],
    [12, 5.27, 1194.45], [12, 2.08, 4694], [11, 0.77, 553.57],
    [10, 1.3, 6286.6], [10, 4.24, 1349.87], [9, 2.7, 242.73],
    [9, 5.64, 951.72], [8, 5.3, 2352.87], [6, 2.65, 9437.76],
    [6, 4.67, 4690.48],
  ],
  [ // L2
    [52919, 0, 0], [8720, 1.0721, 6283.0758], [309, 0.867, 12566.152],
    [27, 0.05, 3.52], [16, 5.19, 26.3], [16, 3.68, 155.42],
    [10, 0.76, 18849.23], [9, 2.06, 77713.77], [7, 0.83, 775.52],
    [5, 4.66, 1577.34], [4, 1.03, 7.11], [4, 3.44, 5573.14],
    [3, 5.14, 796.3], [3, 6.05, 5507.55], [3, 1.19, 242.73],
    [3, 6.12, 529.69], [3, 0.31, 398.15], [3, 2.28, 553.57],
    [2, 4.38, 5223.69], [2, 3.75, 0.98],
  ],
  [ // L3
    [289, 5.844, 6283.076], [35, 0, 0], [17, 5.49, 12566.15],
    [3, 5.2, 155.42], [1, 4.72, 3.52], [1, 5.3, 18849.23],
    [1, 5.97, 242.73],
  ],
  [ // L4
    [114, 3.142, 0], [8, 4.13, 6283.08], [1, 3.84, 12566.15],
  ],
  [ // L5
    [1, 3.14, 0],
  ],
];

const B_TERMS: readonly (readonly Term[])[] = [
  [ // B0
    [280, 3.199, 84334.662], [102, 5.422, 5507.553], [80, 3.88, 5223.69],
    [44, 3.7, 2352.87], [32, 4, 1577.34],
  ],
  [ // B1
    [9, 3.9, 5507.55], [6, 1.73, 5223.69],
  ],
];

const R_TERMS: readonly (readonly Term[])[] = [
  [ // R0
    [100013989, 0, 0], [1670700, 3.0984635, 6283.07585], [13956, 3.05525, 12566.1517],
    [3084, 5.1985, 77713.7715], [1628, 1.1739, 5753.3849], [1576, 2.8469, 7860.4194],
    [925, 5.453, 11506.77], [542, 4.564, 3930.21], [472, 3.661, 5884.927],
    [346, 0.964, 5507.553], [329, 5.9, 5223.694], [307, 0.299, 5573.143],
    [243, 4.273, 11790.629], [212, 5.847, 1577.344], [186, 5.022, 10977.079],
    [175, 3.012, 18849.228], [110, 5.055, 5486.778], [98, 0.89, 6069.78],
    [86, 5.69, 15720.84], [86, 1.27, 161000.69], [65, 0.27, 17260.15],
    [63, 0.92, 529.69], [57, 2.01, 83996.85], [56, 5.24, 71430.7],
    [49, 3.25, 2544.31], [47, 2.58, 775.52], [45, 5.54, 9437.76],
    [43, 6.01, 6275.96], [39, 5.36, 4694], [38, 2.39, 8827.39],
    [37, 0.83, 19651.05], [37, 4.9, 12139.55], [36, 1.67, 12036.46],
    [35, 1.84, 2942.46], [33, 0.24, 7084.9], [32, 0.18, 5088.63],
    [32, 1.78, 398.15], [28, 1.21, 6286.6], [28, 1.9, 6279.55],
    [26, 4.59, 10447.39],
  ],
  [ // R1
    [103019, 1.10749, 6283.07585], [1721, 1.0644, 12566.1517], [702, 3.142, 0],
    [32, 1.02, 18849.23], [31, 2.84, 5507.55], [25, 1.32, 5223.69],
    [18, 1.42, 1577.34], [10, 5.91, 10977.08], [9, 1.42, 6275.96],
    [9, 0.27, 5486.78],
  ],
  [ // R2
    [4359, 5.7846, 6283.0758], [124, 5.579, 12566.152], [12, 3.14, 0],
    [9, 3.63, 77713.77], [6, 1.87, 5573.14], [3, 5.47, 18849.23],
  ],
  [ // R3
    [145, 4.273, 6283.076], [7, 3.92, 12566.15],
  ],
  [ // R4
    [4, 2.56, 6283.08],
  ],
];

// ---------------------------------------------------------------------------------------------
// Table A4.3: periodic terms for the nutation in longitude and obliquity.
// Y: multipliers of X0..X4; PE: [a, b, c, d] in units of 0.0001″.
// ---------------------------------------------------------------------------------------------
const NUTATION_Y: readonly (readonly [number, number, number, number, number])[] = [
  [0, 0, 0, 0, 1], [-2, 0, 0, 2, 2], [0, 0, 0, 2, 2], [0, 0, 0, 0, 2], [0, 1, 0, 0, 0],
  [0, 0, 1, 0, 0], [-2, 1, 0, 2, 2], [0, 0, 0, 2, 1], [0, 0, 1, 2, 2], [-2, -1, 0, 2, 2],
  [-2, 0, 1, 0, 0], [-2, 0, 0, 2, 1], [0, 0, -1, 2, 2], [2, 0, 0, 0, 0], [0, 0, 1, 0, 1],
  [2, 0, -1, 2, 2], [0, 0, -1, 0, 1], [0, 0, 1, 2, 1], [-2, 0, 2, 0, 0], [0, 0, -2, 2, 1],
  [2, 0, 0, 2, 2], [0, 0, 2, 2, 2], [0, 0, 2, 0, 0], [-2, 0, 1, 2, 2], [0, 0, 0, 2, 0],
  [-2, 0, 0, 2, 0], [0, 0, -1, 2, 1], [0, 2, 0, 0, 0], [2, 0, -1, 0, 1], [-2, 2, 0, 2, 2],
  [0, 1, 0, 0, 1], [-2, 0, 1, 0, 1], [0, -1, 0, 0, 1], [0, 0, 2, -2, 0], [2, 0, -1, 2, 1],
  [2, 0, 1, 2, 2], [0, 1, 0, 2, 2], [-2, 1, 1, 0, 0], [0, -1, 0, 2, 2], [2, 0, 0, 2, 1],
  [2, 0, 1, 0, 0], [-2, 0, 2, 2, 2], [-2, 0, 1, 2, 1], [2, 0, -2, 0, 1], [2, 0, 0, 0, 1],
  [0, -1, 1, 0, 0], [-2, -1, 0, 2, 1], [-2, 0, 0, 0, 1], [0, 0, 2, 2, 1], [-2, 0, 2, 0, 1],
  [-2, 1, 0, 2, 1], [0, 0, 1, -2, 0], [-1, 0, 1, 0, 0], [-2, 1, 0, 0, 0], [1, 0, 0, 0, 0],
  [0, 0, 1, 2, 0], [0, 0, -2, 2, 2], [-1, -1, 1, 0, 0], [0, 1, 1, 0, 0], [0, -1, 1, 2, 2],
  [2, -1, -1, 2, 2], [0, 0, 3, 2, 2], [2, -1, 0, 2, 2],
];

const NUTATION_PE: readonly (readonly [number, number, number, number])[] = [
  [-171996, -174.2, 92025, 8.9], [-13187, -1.6, 5736, -3.1], [-2274, -0.2, 977, -0.5],
  [2062, 0.2, -895, 0.5], [1426, -3.4, 54, -0.1], [712, 0.1, -7, 0],
  [-517, 1.2, 224, -0.6], [-386, -0.4, 200, 0], [-301, 0, 129, -0.1],
  [217, -0.5, -95, 0.3], [-158, 0, 0, 0], [129, 0.1, -70, 0],
  [123, 0, -53, 0], [63, 0, 0, 0], [63, 0.1, -33, 0],
  [-59, 0, 26, 0], [-58, -0.1, 32, 0], [-51, 0, 27, 0],
  [48, 0, 0, 0], [46, 0, -24, 0], [-38, 0, 16, 0],
  [-31, 0, 13, 0], [29, 0, 0, 0], [29, 0, -12, 0],
  [26, 0, 0, 0], [-22, 0, 0, 0], [21, 0, -10, 0],
  [17, -0.1, 0, 0], [16, 0, -8, 0], [-16, 0.1, 7, 0],
  [-15, 0, 9, 0], [-13, 0, 7, 0], [-12, 0, 6, 0],
  [11, 0, 0, 0], [-10, 0, 5, 0], [-8, 0, 3, 0],
  [7, 0, -3, 0], [-7, 0, 0, 0], [-7, 0, 3, 0],
  [-7, 0, 3, 0], [6, 0, 0, 0], [6, 0, -3, 0],
  [6, 0, -3, 0], [-6, 0, 3, 0], [-6, 0, 3, 0],
  [5, 0, 0, 0], [-5, 0, 3, 0], [-5, 0, 3, 0],
  [-5, 0, 3, 0], [4, 0, 0, 0], [4, 0, 0, 0],
  [4, 0, 0, 0], [-4, 0, 0, 0], [-4, 0, 0, 0],
  [-4, 0, 0, 0], [3, 0, 0, 0], [-3, 0, 0, 0],
  [-3, 0, 0, 0], [-3, 0, 0, 0], [-3, 0, 0, 0],
  [-3, 0, 0, 0], [-3, 0, 0, 0], [-3, 0, 0, 0],
];

/** Eq. 9–12: Σ_i (Σ_terms A·cos(B + C·JME)) · JME^i / 10^8. */
function earthValue(tables: readonly (readonly Term[])[], jme: number): number {
  let total = 0;
  let power = 1;
  for (const table of tables) {
    let sum = 0;
    for (const [a, b, c] of table) sum += a * Math.cos(b + c * jme);
    total += sum * power;
    power *= jme;
  }
  return total / 1e8;
}

export interface SolarPositionInput {
  /** Unix epoch milliseconds (UTC). */
  timeMs: number;
  latitudeDeg: number;
  /** East positive. */
  longitudeDeg: number;
  elevationM?: number;
  /** Annual average local pressure, millibar. */
  pressureMbar?: number;
  /** Annual average local temperature, °C. */
  temperatureC?: number;
  /** TT − UT, seconds. */
  deltaT?: number;
  /** UT1 − UTC, seconds. */
  deltaUt1?: number;
  /** Surface slope from horizontal, degrees. */
  slopeDeg?: number;
  /** Surface azimuth rotation, degrees, measured from south (east negative). */
  azmRotationDeg?: number;
  /** Atmospheric refraction at sunrise/sunset, degrees. */
  atmosRefractDeg?: number;
}

export interface SolarPosition {
  /** Topocentric zenith angle, refraction-corrected. */
  zenithDeg: number;
  /** Topocentric azimuth, eastward from north, [0, 360). */
  azimuthDeg: number;
  /** Topocentric elevation angle, refraction-corrected (90 − zenith). */
  elevationDeg: number;
  /** Incidence angle on the sloped surface. */
  incidenceDeg: number;
  sunEarthDistanceAu: number;
  /** Equation of time, minutes (apparent − mean solar time). */
  equationOfTimeMin: number;
}

/** NREL SPA (Reda & Andreas 2004/2008), section 3, steps 3.1–3.15 plus A.1 (equation of time). */
export function solarPosition(input: SolarPositionInput): SolarPosition {
  const elevation = input.elevationM ?? 0;
  const pressure = input.pressureMbar ?? 1013.25;
  const temperature = input.temperatureC ?? 12;
  const deltaT = input.deltaT ?? 67;
  const deltaUt1 = input.deltaUt1 ?? 0;
  const slope = input.slopeDeg ?? 0;
  const azmRotation = input.azmRotationDeg ?? 0;
  const atmosRefract = input.atmosRefractDeg ?? 0.5667;
  const lat = input.latitudeDeg;

  // 3.1 Julian day, ephemeris day, centuries and millennia (eq. 4–7); the Unix epoch is JD 2440587.5.
  const jd = (input.timeMs + deltaUt1 * 1000) / 86_400_000 + 2440587.5;
  const jde = jd + deltaT / 86400;
  const jc = (jd - 2451545) / 36525;
  const jce = (jde - 2451545) / 36525;
  const jme = jce / 10;

  // 3.2 Earth heliocentric longitude, latitude and radius vector (eq. 8–12).
  const l = limitDegrees(earthValue(L_TERMS, jme) / DEG);
  const b = earthValue(B_TERMS, jme) / DEG;
  const r = earthValue(R_TERMS, jme);

  // 3.3 Geocentric longitude and latitude (eq. 13–14).
  const theta = limitDegrees(l + 180);
  const beta = -b;

  // 3.4 Nutation in longitude and obliquity (eq. 15–23).
  const x = [
    297.85036 + 445267.11148 * jce - 0.0019142 * jce ** 2 + jce ** 3 / 189474, // mean elongation of the moon
    357.52772 + 35999.05034 * jce - 0.0001603 * jce ** 2 - jce ** 3 / 300000, // mean anomaly of the sun
    134.96298 + 477198.867398 * jce + 0.0086972 * jce ** 2 + jce ** 3 / 56250, // mean anomaly of the moon
    93.27191 + 483202.017538 * jce - 0.0036825 * jce ** 2 + jce ** 3 / 327270, // moon's argument of latitude
    125.04452 - 1934.136261 * jce + 0.0020708 * jce ** 2 + jce ** 3 / 450000, // ascending node of the moon
  ];
  let sumPsi = 0;
  let sumEps = 0;
  for (let i = 0; i < NUTATION_Y.length; i++) {
    const y = NUTATION_Y[i]!;
    const [pa, pb, pc, pd] = NUTATION_PE[i]!;
    const arg = (x[0]! * y[0] + x[1]! * y[1] + x[2]! * y[2] + x[3]! * y[3] + x[4]! * y[4]) * DEG;
    sumPsi += (pa + pb * jce) * Math.sin(arg);
    sumEps += (pc + pd * jce) * Math.cos(arg);
  }
  const deltaPsi = sumPsi / 36_000_000;
  const deltaEps = sumEps / 36_000_000;

  // 3.5 True obliquity of the ecliptic (eq. 24–25).
  const u = jme / 10;
  const eps0 =
    84381.448 +
    u * (-4680.93 + u * (-1.55 + u * (1999.25 + u * (-51.38 + u * (-249.67 + u * (-39.05 + u * (7.12 + u * (27.87 + u * (5.79 + u * 2.45)))))))));
  const eps = eps0 / 3600 + deltaEps;

  // 3.6–3.7 Aberration correction and apparent sun longitude (eq. 26–27).
  const deltaTau = -20.4898 / (3600 * r);
  const lambda = theta + deltaPsi + deltaTau;

  // 3.8 Apparent sidereal time at Greenwich (eq. 28–30).
  const nu0 = limitDegrees(280.46061837 + 360.98564736629 * (jd - 2451545) + 0.000387933 * jc ** 2 - jc ** 3 / 38710000);
  const nu = nu0 + deltaPsi * cosd(eps);

  // 3.9–3.10 Geocentric sun right ascension and declination (eq. 31–32).
  const alpha = limitDegrees(atan2d(sind(lambda) * cosd(eps) - tand(beta) * sind(eps), cosd(lambda)));
  const delta = asind(sind(beta) * cosd(eps) + cosd(beta) * sind(eps) * sind(lambda));

  // 3.11 Observer local hour angle (eq. 33).
  const h = limitDegrees(nu + input.longitudeDeg - alpha);

  // 3.12 Topocentric right ascension, declination and hour angle (eq. 34–42).
  const xi = 8.794 / (3600 * r);
  const uTerm = Math.atan(0.99664719 * tand(lat));
  const xTerm = Math.cos(uTerm) + (elevation / 6378140) * cosd(lat);
  const yTerm = 0.99664719 * Math.sin(uTerm) + (elevation / 6378140) * sind(lat);
  const deltaAlpha = atan2d(-xTerm * sind(xi) * sind(h), cosd(delta) - xTerm * sind(xi) * cosd(h));
  const deltaPrime = atan2d((sind(delta) - yTerm * sind(xi)) * cosd(deltaAlpha), cosd(delta) - xTerm * sind(xi) * cosd(h));
  const hPrime = h - deltaAlpha;

  // 3.13 Topocentric zenith angle with refraction correction (eq. 41–44).
  const e0 = asind(sind(lat) * sind(deltaPrime) + cosd(lat) * cosd(deltaPrime) * cosd(hPrime));
  const SUN_RADIUS = 0.26667;
  const deltaE =
    e0 >= -(SUN_RADIUS + atmosRefract)
      ? (pressure / 1010) * (283 / (273 + temperature)) * (1.02 / (60 * tand(e0 + 10.3 / (e0 + 5.11))))
      : 0;
  const e = e0 + deltaE;
  const zenith = 90 - e;

  // 3.14 Topocentric azimuth (eq. 45–46): astronomers' azimuth Γ is from south, Φ = Γ + 180 from north.
  const gamma = limitDegrees(atan2d(sind(hPrime), cosd(hPrime) * sind(lat) - tand(deltaPrime) * cosd(lat)));
  const azimuth = limitDegrees(gamma + 180);

  // 3.15 Incidence angle for a surface of given slope and azimuth rotation (eq. 47).
  const incidence =
    Math.acos(cosd(zenith) * cosd(slope) + sind(slope) * sind(zenith) * cosd(gamma - azmRotation)) / DEG;

  // A.1 Equation of time (eq. A1–A2), wrapped to ±20 minutes.
  const m = limitDegrees(
    280.4664567 + 360007.6982779 * jme + 0.03032028 * jme ** 2 + jme ** 3 / 49931 - jme ** 4 / 15300 - jme ** 5 / 2_000_000,
  );
  let eot = 4 * (m - 0.0057183 - alpha + deltaPsi * cosd(eps));
  eot = ((eot % 1440) + 1440) % 1440;
  if (eot > 720) eot -= 1440;

  return {
    zenithDeg: zenith,
    azimuthDeg: azimuth,
    elevationDeg: e,
    incidenceDeg: incidence,
    sunEarthDistanceAu: r,
    equationOfTimeMin: eot,
  };
}

/** Haurwitz (1945) clear-sky GHI, W/m²: 1098·cos z·exp(−0.059 / cos z); 0 with the sun down. */
export function haurwitzGhi(zenithDeg: number): number {
  if (!(zenithDeg < 90)) return 0;
  const cz = cosd(zenithDeg);
  return 1098 * cz * Math.exp(-0.059 / cz);
}

/** Relative (not pressure-corrected) airmass, Kasten & Young (1989); NaN with the sun down. */
export function relativeAirmass(zenithDeg: number): number {
  if (!(zenithDeg <= 90)) return NaN;
  return 1 / (cosd(zenithDeg) + 0.50572 * (6.07995 + (90 - zenithDeg)) ** -1.6364);
}

/** Standard-atmosphere pressure (Pa) at an altitude (m), as pvlib `atmosphere.alt2pres`. */
export function altitudeToPressurePa(altitudeM: number): number {
  return 100 * ((44331.514 - altitudeM) / 11880.516) ** (1 / 0.1902632);
}

/** Extraterrestrial normal irradiance (W/m²) by day of year: Spencer (1971), as pvlib `get_extra_radiation`. */
export function extraterrestrialDni(dayOfYear: number): number {
  const b = (2 * Math.PI * (dayOfYear - 1)) / 365;
  const rOverR0Sq =
    1.00011 + 0.034221 * Math.cos(b) + 0.00128 * Math.sin(b) + 0.000719 * Math.cos(2 * b) + 0.000077 * Math.sin(2 * b);
  return 1366.1 * rOverR0Sq;
}

export interface Irradiance {
  ghi: number;
  dni: number;
  dhi: number;
}

/**
 * Ineichen & Perez (2002) clear-sky model, following pvlib `clearsky.ineichen` (perez_enhancement
 * off): zenith is the apparent zenith; absolute airmass defaults to Kasten–Young relative airmass
 * scaled by the standard-atmosphere pressure at `elevationM`; extraterrestrial DNI comes from
 * `dayOfYear` (Spencer) unless `dniExtra` is given.
 */
export function ineichenPerez(input: {
  zenithDeg: number;
  airMassAbsolute?: number;
  elevationM: number;
  linkeTurbidity: number;
  dayOfYear: number;
  /** Extraterrestrial normal irradiance, W/m²; overrides the day-of-year value. */
  dniExtra?: number;
}): Irradiance {
  const zero = { ghi: 0, dni: 0, dhi: 0 };
  const cosZenith = Math.max(cosd(input.zenithDeg), 0);
  if (!(input.zenithDeg < 90) || cosZenith <= 0) return zero;
  const am =
    input.airMassAbsolute ?? (relativeAirmass(input.zenithDeg) * altitudeToPressurePa(input.elevationM)) / 101325;
  if (!Number.isFinite(am)) return zero;
  const tl = input.linkeTurbidity;
  const alt = input.elevationM;
  const dniExtra = input.dniExtra ?? extraterrestrialDni(input.dayOfYear);

  const fh1 = Math.exp(-alt / 8000);
  const fh2 = Math.exp(-alt / 1250);
  const cg1 = 5.09e-5 * alt + 0.868;
  const cg2 = 3.92e-5 * alt + 0.0387;

  // Global: eq. 7 of Ineichen & Perez.
  const ghi = cg1 * dniExtra * cosZenith * Math.max(Math.exp(-cg2 * am * (fh1 + fh2 * (tl - 1))), 0);
  // Beam: eq. 8, capped by the "empirical correction" (SE 73, 157 & 312).
  const b = 0.664 + 0.163 / fh1;
  const bnci = dniExtra * Math.max(b * Math.exp(-0.09 * am * (tl - 1)), 0);
  const bnci2 = ghi * Math.min(Math.max((1 - (0.1 - 0.2 * Math.exp(-tl)) / (0.1 + 0.882 / fh1)) / cosZenith, 0), 1e20);
  const dni = Math.min(bnci, bnci2);
  const dhi = ghi - dni * cosZenith;
  return { ghi, dni, dhi };
}

/**
 * The fraction of clear-sky GHI a cloud cover lets through, Kasten & Czeplak (1980):
 * GHI / GHI_clear = 1 − 0.75 · C^3.4, C the cover fraction (0 clear … 1 overcast). The simulator's
 * clouds and the budget's reading of a forecast's cloud cover share it.
 */
export function cloudTransmittance(cover: number): number {
  return 1 - 0.75 * Math.min(1, Math.max(0, cover)) ** 3.4;
}

/** Day of year (1..366) of a UTC time. */
export function dayOfYearUtc(timeMs: number): number {
  const d = new Date(timeMs);
  return Math.floor((timeMs - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

export interface SiteSky {
  latitudeDeg: number;
  longitudeDeg: number;
  elevationM: number;
  /** Linke turbidity (2 very clean air … 6 hazy). Default 3. */
  linkeTurbidity?: number;
  model?: 'ineichen' | 'haurwitz';
}

export interface ClearSky {
  /** Clear-sky GHI, W/m². */
  ghiWm2(timeMs: number): number;
  /** Apparent sun elevation, degrees. */
  sunElevationDeg(timeMs: number): number;
}

/** The clear sky over a site: SPA for the sun, Ineichen–Perez (or Haurwitz) for the light. */
export function clearSky(site: SiteSky): ClearSky {
  const tl = site.linkeTurbidity ?? 3;
  const model = site.model ?? 'ineichen';
  const pressureMbar = altitudeToPressurePa(site.elevationM) / 100;
  const position = (timeMs: number): SolarPosition =>
    solarPosition({ timeMs, latitudeDeg: site.latitudeDeg, longitudeDeg: site.longitudeDeg, elevationM: site.elevationM, pressureMbar });
  return {
    ghiWm2(timeMs) {
      const zenithDeg = position(timeMs).zenithDeg;
      if (model === 'haurwitz') return haurwitzGhi(zenithDeg);
      return ineichenPerez({ zenithDeg, elevationM: site.elevationM, linkeTurbidity: tl, dayOfYear: dayOfYearUtc(timeMs) }).ghi;
    },
    sunElevationDeg(timeMs) {
      return position(timeMs).elevationDeg;
    },
  };
}
