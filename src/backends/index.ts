export * from './types';
export { selectBackend, activeBackend, shutdownBackend, defaultThreads, AUTO_ORDER, BACKEND_CHOICES } from './select';
