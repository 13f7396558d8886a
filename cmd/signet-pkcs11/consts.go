package main

// Constants of the PKCS #11 v2.40 / v3.0 specification (OASIS) that the
// module uses, with the values the specification assigns.

type ulong = uint64 // CK_ULONG on the LP64 platforms the module is built for

const unavailable = ^ulong(0) // CK_UNAVAILABLE_INFORMATION

// Return values.
const (
	ckrOK                          ulong = 0x000
	ckrHostMemory                  ulong = 0x002
	ckrSlotIDInvalid               ulong = 0x003
	ckrGeneralError                ulong = 0x005
	ckrFunctionFailed              ulong = 0x006
	ckrArgumentsBad                ulong = 0x007
	ckrAttributeSensitive          ulong = 0x011
	ckrAttributeTypeInvalid        ulong = 0x012
	ckrDataInvalid                 ulong = 0x020
	ckrDataLenRange                ulong = 0x021
	ckrDeviceError                 ulong = 0x030
	ckrFunctionNotSupported        ulong = 0x054
	ckrKeyHandleInvalid            ulong = 0x060
	ckrKeyTypeInconsistent         ulong = 0x063
	ckrKeyFunctionNotPermitted     ulong = 0x068
	ckrMechanismInvalid            ulong = 0x070
	ckrMechanismParamInvalid       ulong = 0x071
	ckrObjectHandleInvalid         ulong = 0x082
	ckrOperationActive             ulong = 0x090
	ckrOperationNotInitialized     ulong = 0x091
	ckrPinIncorrect                ulong = 0x0A0
	ckrSessionHandleInvalid        ulong = 0x0B3
	ckrSessionParallelNotSupported ulong = 0x0B4
	ckrSessionReadOnly             ulong = 0x0B5
	ckrTokenWriteProtected         ulong = 0x0E2
	ckrRandomSeedNotSupported      ulong = 0x120
	ckrUserAlreadyLoggedIn         ulong = 0x100
	ckrUserNotLoggedIn             ulong = 0x101
	ckrUserTypeInvalid             ulong = 0x103
	ckrBufferTooSmall              ulong = 0x150
	ckrCryptokiNotInitialized      ulong = 0x190
	ckrCryptokiAlreadyInitialized  ulong = 0x191
)

// Flags.
const (
	ckfTokenPresent       ulong = 0x1   // slot
	ckfRNG                ulong = 0x1   // token
	ckfWriteProtected     ulong = 0x2   // token
	ckfLoginRequired      ulong = 0x4   // token
	ckfUserPinInitialized ulong = 0x8   // token
	ckfTokenInitialized   ulong = 0x400 // token
	ckfRWSession          ulong = 0x2   // session
	ckfSerialSession      ulong = 0x4   // session
	ckfOSLockingOK        ulong = 0x2   // C_Initialize
	ckfSign               ulong = 0x800 // mechanism
	ckfECFp               ulong = 0x100000
	ckfECNamedCurve       ulong = 0x800000
	ckfECUncompress       ulong = 0x1000000
)

// Users and session states.
const (
	ckuSO   ulong = 0
	ckuUser ulong = 1

	cksROPublicSession ulong = 0
	cksROUserFunctions ulong = 1
	cksRWPublicSession ulong = 2
	cksRWUserFunctions ulong = 3
)

// Object classes, key and certificate types.
const (
	ckoCertificate ulong = 1
	ckoPublicKey   ulong = 2
	ckoPrivateKey  ulong = 3

	ckkRSA        ulong = 0x00
	ckkEC         ulong = 0x03
	ckkECEdwards  ulong = 0x40
	ckcX509       ulong = 0
	ckCategoryTok ulong = 1 // CK_CERTIFICATE_CATEGORY_TOKEN_USER
)

// Attributes.
const (
	ckaClass               ulong = 0x000
	ckaToken               ulong = 0x001
	ckaPrivate             ulong = 0x002
	ckaLabel               ulong = 0x003
	ckaValue               ulong = 0x011
	ckaCertificateType     ulong = 0x080
	ckaIssuer              ulong = 0x081
	ckaSerialNumber        ulong = 0x082
	ckaTrusted             ulong = 0x086
	ckaCertificateCategory ulong = 0x087
	ckaKeyType             ulong = 0x100
	ckaSubject             ulong = 0x101
	ckaID                  ulong = 0x102
	ckaSensitive           ulong = 0x103
	ckaEncrypt             ulong = 0x104
	ckaDecrypt             ulong = 0x105
	ckaWrap                ulong = 0x106
	ckaUnwrap              ulong = 0x107
	ckaSign                ulong = 0x108
	ckaSignRecover         ulong = 0x109
	ckaVerify              ulong = 0x10A
	ckaVerifyRecover       ulong = 0x10B
	ckaDerive              ulong = 0x10C
	ckaModulus             ulong = 0x120
	ckaModulusBits         ulong = 0x121
	ckaPublicExponent      ulong = 0x122
	ckaPrivateExponent     ulong = 0x123
	ckaPrime1              ulong = 0x124
	ckaPrime2              ulong = 0x125
	ckaExponent1           ulong = 0x126
	ckaExponent2           ulong = 0x127
	ckaCoefficient         ulong = 0x128
	ckaPublicKeyInfo       ulong = 0x129
	ckaExtractable         ulong = 0x162
	ckaLocal               ulong = 0x163
	ckaNeverExtractable    ulong = 0x164
	ckaAlwaysSensitive     ulong = 0x165
	ckaModifiable          ulong = 0x170
	ckaCopyable            ulong = 0x171
	ckaDestroyable         ulong = 0x172
	ckaECParams            ulong = 0x180
	ckaECPoint             ulong = 0x181
	ckaAlwaysAuthenticate  ulong = 0x202
	ckaWrapWithTrusted     ulong = 0x210
	ckaAllowedMechanisms   ulong = 0x40000600
)

// Mechanisms.
const (
	ckmRSAPKCS          ulong = 0x0001
	ckmRSAPKCSPSS       ulong = 0x000D
	ckmSHA256RSAPKCS    ulong = 0x0040
	ckmSHA384RSAPKCS    ulong = 0x0041
	ckmSHA512RSAPKCS    ulong = 0x0042
	ckmSHA256RSAPKCSPSS ulong = 0x0043
	ckmSHA384RSAPKCSPSS ulong = 0x0044
	ckmSHA512RSAPKCSPSS ulong = 0x0045
	ckmSHA256           ulong = 0x0250
	ckmSHA384           ulong = 0x0260
	ckmSHA512           ulong = 0x0270
	ckmECDSA            ulong = 0x1041
	ckmECDSASHA256      ulong = 0x1044
	ckmECDSASHA384      ulong = 0x1045
	ckmECDSASHA512      ulong = 0x1046
	ckmEDDSA            ulong = 0x1057

	ckgMGF1SHA256 ulong = 2
	ckgMGF1SHA384 ulong = 3
	ckgMGF1SHA512 ulong = 4
)
