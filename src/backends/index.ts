export * from './types';
export { selectBackend, activeBackend, shutdownBackend, setActivePrecision, defaultThreads, AUTO_ORDER, BACKEND_CHOICES } from './select';
export { PRECISION_CHOICES, NATIVE_BF16_FLAGS, nativeBf16Flags, checkNativeBf16, parsePrecision, type Precision } from './precision';
