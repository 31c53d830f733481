export { EventFileWriter, EVENT_FILE_PREFIX, EVENT_FILE_VERSION, eventFileName, pngHeader, type EventFileWriterOptions } from './event-writer';
export { maskedCrc32c, tfrecord } from './tfrecord';
