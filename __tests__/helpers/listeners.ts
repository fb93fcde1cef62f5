type Emitter = {eventNames(): Array<string | symbol>; listenerCount(event: string | symbol): number};

/** Every listener attached to `emitter`, over all its events. */
export const totalListeners = (emitter: Emitter): number =>
	emitter.eventNames().reduce((sum, name) => sum + emitter.listenerCount(name), 0);
