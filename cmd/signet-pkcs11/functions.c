//go:build cgo

// The function list of the module: the functions written in Go (export.go)
// and, for the rest of the PKCS #11 interface, one that answers
// CKR_FUNCTION_NOT_SUPPORTED.
#include <string.h>
#include "pkcs11.h"
#include "_cgo_export.h"

static CK_RV notSupported() { return CKR_FUNCTION_NOT_SUPPORTED; }

static CK_FUNCTION_LIST functionList = {
	{2, 40},
	C_Initialize,
	C_Finalize,
	C_GetInfo,
	C_GetFunctionList,
	C_GetSlotList,
	C_GetSlotInfo,
	C_GetTokenInfo,
	C_GetMechanismList,
	C_GetMechanismInfo,
	notSupported, /* C_InitToken */
	notSupported, /* C_InitPIN */
	notSupported, /* C_SetPIN */
	C_OpenSession,
	C_CloseSession,
	C_CloseAllSessions,
	C_GetSessionInfo,
	notSupported, /* C_GetOperationState */
	notSupported, /* C_SetOperationState */
	C_Login,
	C_Logout,
	notSupported, /* C_CreateObject */
	notSupported, /* C_CopyObject */
	notSupported, /* C_DestroyObject */
	notSupported, /* C_GetObjectSize */
	C_GetAttributeValue,
	notSupported, /* C_SetAttributeValue */
	C_FindObjectsInit,
	C_FindObjects,
	C_FindObjectsFinal,
	notSupported, notSupported, notSupported, notSupported, /* C_Encrypt* */
	notSupported, notSupported, notSupported, notSupported, /* C_Decrypt* */
	notSupported, notSupported, notSupported, notSupported, notSupported, /* C_Digest* */
	C_SignInit,
	C_Sign,
	C_SignUpdate,
	C_SignFinal,
	notSupported, notSupported, /* C_SignRecover* */
	notSupported, notSupported, notSupported, notSupported, /* C_Verify* */
	notSupported, notSupported, /* C_VerifyRecover* */
	notSupported, notSupported, notSupported, notSupported, /* dual-function updates */
	notSupported, notSupported, notSupported, notSupported, notSupported, /* key management */
	C_SeedRandom,
	C_GenerateRandom,
	notSupported, notSupported, /* parallel functions */
	notSupported, /* C_WaitForSlotEvent */
};

static CK_INTERFACE pkcs11Interface = {(CK_CHAR *)"PKCS 11", &functionList, 0};

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount) {
	if (pulCount == 0) {
		return 0x07UL; /* CKR_ARGUMENTS_BAD */
	}
	if (pInterfacesList == 0) {
		*pulCount = 1;
		return CKR_OK;
	}
	if (*pulCount < 1) {
		*pulCount = 1;
		return 0x150UL; /* CKR_BUFFER_TOO_SMALL */
	}
	pInterfacesList[0] = pkcs11Interface;
	*pulCount = 1;
	return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion, CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags) {
	if (ppInterface == 0) {
		return 0x07UL; /* CKR_ARGUMENTS_BAD */
	}
	if (pInterfaceName != 0 && strcmp((const char *)pInterfaceName, "PKCS 11") != 0) {
		return 0x07UL;
	}
	if (pVersion != 0 && (pVersion->major != 2 || pVersion->minor != 40)) {
		return 0x07UL;
	}
	if (flags != 0) {
		return 0x07UL; /* no interface with flags (fork safety) is offered */
	}
	*ppInterface = &pkcs11Interface;
	return CKR_OK;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
	if (ppFunctionList == 0) {
		return 0x07UL; /* CKR_ARGUMENTS_BAD */
	}
	*ppFunctionList = &functionList;
	return CKR_OK;
}
