/**
 * The virtual ArduCopter, driven through Canopy's own microservices over an in-memory link: every
 * check is something a ground station sees on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { ManualClock, settle } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import type { Link } from '../../firmware-bridge/links/link.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { VehicleActions } from '../../firmware-bridge/actions.ts';
import { ParamClient } from '../../firmware-bridge/microservices/param/param.ts';
import { MissionClient } from '../../firmware-bridge/microservices/mission/mission.ts';
import { IntervalClient } from '../../firmware-bridge/microservices/interval/interval.ts';
import { Timesync } from '../../firmware-bridge/microservices/timesync/timesync.ts';
import { MavlinkSigning } from '../../firmware-bridge/microservices/signing/index.ts';
import { encodeMode, StreamKeeper, VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { STREAM_RATES } from '../../controller/telemetry.ts';
import { seededRandom } from '../../firmware-bridge/random.ts';
import { VirtualCopter, type VirtualCopterOptions } from '../../sim/autopilot.ts';
import { VirtualPx4 } from '../../sim/px4.ts';
import { offsetToLatLon } from '../../firmware-bridge/geo.ts';
import { createLossyPair } from '../helpers/lossy-link.ts';

import { A, ORIGIN, rig } from '../helpers/copter-rig.ts';

