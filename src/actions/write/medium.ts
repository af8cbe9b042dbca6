// What a change was written to, in the owner's words, and what to do next with it: the card itself, a
// virtual machine's disk file, or an image file (a copy of a card made here, or one the owner had). A change
// to an image is not on any card: saying "put the card back" then sent owners back with the unchanged card.

import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { containerOf } from '../../device/vdisk/types.js';
import type { OpenedSource } from '../source.js';

export interface Medium {
  kind: 'card' | 'image' | 'vm-disk';
  /** "the card", "the image file card.img (not a card)", "the virtual machine's disk file". */
  the: string;
  /** What makes the box start from it: "put the card back into the box and start it". */
  startIt: string;
  /** What starts from it and replays its journal: "the box", "the virtual machine", "the computer". */
  system: string;
}

export const CARD: Medium = { kind: 'card', the: 'the card', startIt: 'put the card back into the box and start it', system: 'the box' };

/** A Supervised install's disk (Debian on a PC): a disk of a computer, not a card of a box. */
function supervisedMedium(src: OpenedSource): Medium {
  if (!isFile(src.path)) return { kind: 'card', the: 'the disk', startIt: 'put the disk back into the computer that runs Home Assistant and start it', system: 'the computer' };
  if (isPartitionImage(src)) {
    return {
      kind: 'image',
      the: `the image file ${basename(src.path)} (a copy of one partition, not a disk)`,
      startIt: 'copy the image file back onto the partition of the disk it came from (on Linux: sudo dd if=IMAGE of=/dev/sdXN bs=4M conv=fsync), never onto the whole disk, put that disk back into the computer that runs Home Assistant and start it',
      system: 'the computer',
    };
  }
  return {
    kind: 'image',
    the: `the image file ${basename(src.path)} (not a disk)`,
    startIt: 'write the image file back onto the disk it came from (balenaEtcher; on Linux: sudo dd if=IMAGE of=/dev/sdX bs=4M conv=fsync), put that disk back into the computer that runs Home Assistant and start it',
    system: 'the computer',
  };
}

/** A path stat cannot look at (a Windows disk name, no rights) is not an image file. */
function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/**
 * The data filesystem alone, no partition table in front of it (a copy of one partition, as `dd if=/dev/sdb8`
 * makes): written to a card with an imager, it erases the card's boot and system partitions.
 */
function isPartitionImage(src: OpenedSource): boolean {
  return src.discovery.table.type === 'none' && src.discovery.chosen.byteOffset === 0;
}

export function mediumOf(src: OpenedSource): Medium {
  if (containerOf(src.device) !== null) return { kind: 'vm-disk', the: "the virtual machine's disk file", startIt: 'start the virtual machine', system: 'the virtual machine' };
  if (src.discovery.kind === 'supervised') return supervisedMedium(src);
  if (isFile(src.path) && isPartitionImage(src)) {
    return {
      kind: 'image',
      the: `the image file ${basename(src.path)} (a copy of the data partition alone, not a card)`,
      startIt: 'copy the image file back onto the data partition of the card it came from (hassos-data, partition 8 on most boards; on Linux: sudo dd if=IMAGE of=/dev/sdX8 bs=4M conv=fsync), never onto the whole card (an imager would erase the card\'s system), put that card into the box and start it',
      system: 'the box',
    };
  }
  if (isFile(src.path)) {
    return {
      kind: 'image',
      the: `the image file ${basename(src.path)} (not a card)`,
      startIt: 'write the image file to a card (Raspberry Pi Imager: "Use custom", or balenaEtcher), put that card into the box and start it',
      system: 'the box',
    };
  }
  return CARD;
}
