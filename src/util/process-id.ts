// Names this process among a fleet (lease holders, logs): host and pid.
import { hostname } from 'node:os';

export const processHolderId = `${hostname()}:${process.pid}`;
