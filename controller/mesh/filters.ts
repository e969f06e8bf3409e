/**
 * MQTT topic-filter arithmetic (MQTT 3.1.1 §4.7 "Topic Names and Topic Filters"). Pure functions
 * with no Node imports, so the dashboard can use them in a browser.
 */

/** True when `topic` (a topic name, no wildcards) matches `filter`. */
export function topicMatches(filter: string, topic: string): boolean {
  return levelsMatch(filter.split('/'), topic.split('/'), false);
}

/**
 * True when some topic name matches both filters, i.e. a subscription to `a` could receive a
 * message that a subscription to `b` would also receive. The ACL uses it to decide whether a
 * wildcard subscription can reach any topic a role may read.
 */
export function filtersIntersect(a: string, b: string): boolean {
  return levelsMatch(a.split('/'), b.split('/'), true);
}

/** True when the string is a valid topic filter (wildcards only as whole levels, `#` last). */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level === '#') return i === levels.length - 1; // [MQTT-4.7.1-2]
    if (level === '+') return true;
    return !level.includes('#') && !level.includes('+'); // [MQTT-4.7.1-3]
  });
}

/** True when the string is a valid topic name for PUBLISH (no wildcards, not empty). */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes('+') && !topic.includes('#'); // [MQTT-3.3.2-2]
}

function levelsMatch(a: string[], b: string[], bothFilters: boolean): boolean {
  // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with '$'.
  if ((isWildcard(a[0]!) && b[0]!.startsWith('$')) || (isWildcard(b[0]!) && a[0]!.startsWith('$'))) return false;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    // "sport/#" also matches "sport" itself (§4.7.1.2), so '#' may face a missing level.
    if (x === '#' || (bothFilters && y === '#')) return true;
    if (x === undefined || y === undefined) return false;
    if (x === '+' || (bothFilters && y === '+')) continue;
    if (x !== y) return false;
  }
  return true;
}

function isWildcard(level: string): boolean {
  return level === '#' || level === '+';
}
