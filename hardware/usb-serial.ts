/**
 * The USB serial devices a Canopy station meets, by USB vendor:product (and the manufacturer
 * string where one id covers two kinds of device). One table for both `canopy doctor` (what a
 * device probably is) and the udev rules (hardware/raspberry-pi/99-canopy-radios.rules is
 * rendered from it; a test keeps the two equal).
 *
 * Ids: FTDI 0403:6001 (FT232R) and 0403:6015 (FT231X/FT230X), Silicon Labs 10c4:ea60 (CP210x)
 * are the USB bridges of SiK radios (3DR, Holybro, mRo, RFD900x); Victron's VE.Direct to USB
 * cable is an FT231X too (0403:6015) and says "VictronEnergy BV" as its manufacturer. 26ac is 3D
 * Robotics' vendor id; 26ac:0011 is a PX4 FMU (Pixhawk) autopilot on USB, not a radio
 * (ArduPilot's "USB IDs" page lists 0x26AC as 3DR's, used by most early Pixhawk boards).
 */

export type UsbSerialRole = 'radio' | 'autopilot' | 'charge-controller';

export interface KnownUsbSerial {
  /** idVendor, idProduct as sysfs and udev write them (four lower-case hex digits). */
  vendor: string;
  product: string;
  /** Matches only when the device's manufacturer string is this (checked before the entries without). */
  manufacturer?: string;
  chip: string;
  /** What it most likely is on a Canopy station. */
  probably: string;
  role: UsbSerialRole;
  /** The stable name udev gives it: /dev/<symlink>-<USB serial number>. */
  symlink: string;
}

export const KNOWN_USB_SERIAL: readonly KnownUsbSerial[] = [
  { vendor: '0403', product: '6015', manufacturer: 'VictronEnergy BV', chip: 'FTDI FT231X', probably: 'Victron VE.Direct to USB cable (the charge controller)', role: 'charge-controller', symlink: 'canopy-vedirect' },
  { vendor: '0403', product: '6001', chip: 'FTDI FT232R', probably: 'SiK telemetry radio (3DR, RFD900 on an FTDI cable) or another FTDI serial cable', role: 'radio', symlink: 'canopy-radio' },
  { vendor: '0403', product: '6015', chip: 'FTDI FT231X', probably: 'SiK telemetry radio (3DR, Holybro, RFD900x)', role: 'radio', symlink: 'canopy-radio' },
  { vendor: '10c4', product: 'ea60', chip: 'Silicon Labs CP210x', probably: 'SiK telemetry radio (Holybro, mRo, RFD900 with a CP2102)', role: 'radio', symlink: 'canopy-radio' },
  { vendor: '26ac', product: '0011', chip: '3D Robotics PX4 FMU', probably: 'a Pixhawk autopilot on USB (a drone on the bench)', role: 'autopilot', symlink: 'canopy-autopilot' },
];

/** The table entry for a device, or undefined for one Canopy does not know. */
export function identifyUsbSerial(vendor: string, product: string, manufacturer?: string, table: readonly KnownUsbSerial[] = KNOWN_USB_SERIAL): KnownUsbSerial | undefined {
  const v = vendor.toLowerCase();
  const p = product.toLowerCase();
  const same = (k: KnownUsbSerial) => k.vendor === v && k.product === p;
  return table.find((k) => same(k) && k.manufacturer !== undefined && k.manufacturer === manufacturer?.trim()) ?? table.find((k) => same(k) && k.manufacturer === undefined);
}

/**
 * The udev rules file for the table (udev(7)): one line per entry, matching the tty's USB parent
 * by ids (and manufacturer), each setting ENV{CANOPY_ROLE}. Entries with a manufacturer come
 * first; an entry without one, whose ids another entry claims by manufacturer, also needs
 * CANOPY_ROLE still empty, so a Victron cable is not also named a radio. (ATTRS{manufacturer}!=
 * would not do: udev fails an ATTRS match on a device without that attribute, whatever the
 * operator, and cheap FTDI clones leave the string out.)
 */
export function renderUdevRules(table: readonly KnownUsbSerial[] = KNOWN_USB_SERIAL): string {
  const lines = [
    '# Generated from hardware/usb-serial.ts (test/hardware/raspberry-pi.test.ts keeps them equal).',
    '# Stable names for the USB serial devices of a Canopy station, readable by the dialout group:',
    '# /dev/canopy-radio-<serial> (SiK radios), /dev/canopy-vedirect-<serial> (Victron VE.Direct',
    '# cable), /dev/canopy-autopilot-<serial> (a Pixhawk on USB). <serial> is the USB serial number.',
  ];
  const ordered = [...table.filter((k) => k.manufacturer !== undefined), ...table.filter((k) => k.manufacturer === undefined)];
  for (const k of ordered) {
    const match = [`SUBSYSTEM=="tty"`, `ATTRS{idVendor}=="${k.vendor}"`, `ATTRS{idProduct}=="${k.product}"`];
    if (k.manufacturer !== undefined) match.push(`ATTRS{manufacturer}=="${k.manufacturer}"`);
    else if (table.some((o) => o.manufacturer !== undefined && o.vendor === k.vendor && o.product === k.product)) match.push(`ENV{CANOPY_ROLE}==""`);
    lines.push(`# ${k.chip}: ${k.probably}`);
    lines.push([...match, `ENV{CANOPY_ROLE}="${k.role}"`, `SYMLINK+="${k.symlink}-$attr{serial}"`, `GROUP="dialout"`, `MODE="0660"`].join(', '));
  }
  return `${lines.join('\n')}\n`;
}
