//go:build cgo

package main

/*
#include <stdlib.h>
#include <string.h>
#include "pkcs11.h"
*/
import "C"

import (
	"crypto/rand"
	"runtime/debug"
	"sync"
	"unsafe"
)

// The C entry points. Each converts between C and Go, calls the module,
// and never lets a panic cross into the caller: a panic is logged and
// answered CKR_GENERAL_ERROR.

var (
	modMu sync.Mutex
	mod   *module // nil outside C_Initialize … C_Finalize
)

func current() (*module, ulong) {
	modMu.Lock()
	defer modMu.Unlock()
	if mod == nil {
		return nil, ckrCryptokiNotInitialized
	}
	return mod, ckrOK
}

func guard(rv *C.CK_RV) {
	if r := recover(); r != nil {
		logf("internal error: %v\n%s", r, debug.Stack())
		*rv = C.CK_RV(ckrGeneralError)
	}
}

// pad copies s into the blank-padded fixed-size field dst, as PKCS #11
// strings are.
func pad(dst unsafe.Pointer, n int, s string) {
	b := unsafe.Slice((*byte)(dst), n)
	for i := range b {
		b[i] = ' '
	}
	copy(b, s)
}

//export C_Initialize
func C_Initialize(pInitArgs C.CK_VOID_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	if pInitArgs != nil {
		args := (*C.CK_C_INITIALIZE_ARGS)(pInitArgs)
		if args.pReserved != nil {
			return C.CK_RV(ckrArgumentsBad)
		}
		// Go's own locks serve every caller, whether or not it offers
		// its mutex functions.
	}
	modMu.Lock()
	defer modMu.Unlock()
	if mod != nil {
		return C.CK_RV(ckrCryptokiAlreadyInitialized)
	}
	m, err := newModule()
	if err != nil {
		logf("%v", err)
		return C.CK_RV(ckrGeneralError)
	}
	mod = m
	return C.CK_RV(ckrOK)
}

//export C_Finalize
func C_Finalize(pReserved C.CK_VOID_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	if pReserved != nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	modMu.Lock()
	defer modMu.Unlock()
	if mod == nil {
		return C.CK_RV(ckrCryptokiNotInitialized)
	}
	mod = nil
	return C.CK_RV(ckrOK)
}

//export C_GetInfo
func C_GetInfo(pInfo C.CK_INFO_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	if _, r := current(); r != ckrOK {
		return C.CK_RV(r)
	}
	if pInfo == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	pInfo.cryptokiVersion = C.CK_VERSION{major: 2, minor: 40}
	pad(unsafe.Pointer(&pInfo.manufacturerID[0]), 32, "Signet")
	pInfo.flags = 0
	pad(unsafe.Pointer(&pInfo.libraryDescription[0]), 32, "Signet PKCS #11 module")
	pInfo.libraryVersion = C.CK_VERSION{major: 1, minor: 0}
	return C.CK_RV(ckrOK)
}

// slotID is the module's one slot.
const slotID = 0

//export C_GetSlotList
func C_GetSlotList(tokenPresent C.CK_BBOOL, pSlotList C.CK_SLOT_ID_PTR, pulCount C.CK_ULONG_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	if _, r := current(); r != ckrOK {
		return C.CK_RV(r)
	}
	if pulCount == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	if pSlotList != nil {
		if *pulCount < 1 {
			*pulCount = 1
			return C.CK_RV(ckrBufferTooSmall)
		}
		*pSlotList = slotID
	}
	*pulCount = 1
	return C.CK_RV(ckrOK)
}

//export C_GetSlotInfo
func C_GetSlotInfo(id C.CK_SLOT_ID, pInfo C.CK_SLOT_INFO_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if id != slotID {
		return C.CK_RV(ckrSlotIDInvalid)
	}
	if pInfo == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	pad(unsafe.Pointer(&pInfo.slotDescription[0]), 64, "Signet "+m.cfg.vars["SIGNET_SERVER"])
	pad(unsafe.Pointer(&pInfo.manufacturerID[0]), 32, "Signet")
	pInfo.flags = C.CK_FLAGS(ckfTokenPresent)
	pInfo.hardwareVersion = C.CK_VERSION{major: 1}
	pInfo.firmwareVersion = C.CK_VERSION{major: 1}
	return C.CK_RV(ckrOK)
}

//export C_GetTokenInfo
func C_GetTokenInfo(id C.CK_SLOT_ID, pInfo C.CK_TOKEN_INFO_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if id != slotID {
		return C.CK_RV(ckrSlotIDInvalid)
	}
	if pInfo == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	m.mu.Lock()
	sessions, rw := len(m.sessions), 0
	for _, s := range m.sessions {
		if s.flags&ckfRWSession != 0 {
			rw++
		}
	}
	m.mu.Unlock()
	pad(unsafe.Pointer(&pInfo.label[0]), 32, m.cfg.label)
	pad(unsafe.Pointer(&pInfo.manufacturerID[0]), 32, "Signet")
	pad(unsafe.Pointer(&pInfo.model[0]), 16, "signet-pkcs11")
	pad(unsafe.Pointer(&pInfo.serialNumber[0]), 16, "1")
	flags := ckfTokenInitialized | ckfWriteProtected | ckfUserPinInitialized | ckfRNG
	if m.needPIN {
		flags |= ckfLoginRequired
	}
	pInfo.flags = C.CK_FLAGS(flags)
	pInfo.ulMaxSessionCount = 0 // CK_EFFECTIVELY_INFINITE
	pInfo.ulSessionCount = C.CK_ULONG(sessions)
	pInfo.ulMaxRwSessionCount = 0
	pInfo.ulRwSessionCount = C.CK_ULONG(rw)
	pInfo.ulMaxPinLen = 4096 // a token may be the PIN
	pInfo.ulMinPinLen = 0
	for _, p := range []*C.CK_ULONG{&pInfo.ulTotalPublicMemory, &pInfo.ulFreePublicMemory, &pInfo.ulTotalPrivateMemory, &pInfo.ulFreePrivateMemory} {
		*p = C.CK_ULONG(unavailable)
	}
	pInfo.hardwareVersion = C.CK_VERSION{major: 1}
	pInfo.firmwareVersion = C.CK_VERSION{major: 1}
	pad(unsafe.Pointer(&pInfo.utcTime[0]), 16, "")
	return C.CK_RV(ckrOK)
}

//export C_GetMechanismList
func C_GetMechanismList(id C.CK_SLOT_ID, pList C.CK_MECHANISM_TYPE_PTR, pulCount C.CK_ULONG_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	if _, r := current(); r != ckrOK {
		return C.CK_RV(r)
	}
	if id != slotID {
		return C.CK_RV(ckrSlotIDInvalid)
	}
	if pulCount == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	n := len(allMechanisms)
	if pList != nil {
		if int(*pulCount) < n {
			*pulCount = C.CK_ULONG(n)
			return C.CK_RV(ckrBufferTooSmall)
		}
		out := unsafe.Slice(pList, n)
		for i, mech := range allMechanisms {
			out[i] = C.CK_MECHANISM_TYPE(mech)
		}
	}
	*pulCount = C.CK_ULONG(n)
	return C.CK_RV(ckrOK)
}

//export C_GetMechanismInfo
func C_GetMechanismInfo(id C.CK_SLOT_ID, mech C.CK_MECHANISM_TYPE, pInfo C.CK_MECHANISM_INFO_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	if _, r := current(); r != ckrOK {
		return C.CK_RV(r)
	}
	if id != slotID {
		return C.CK_RV(ckrSlotIDInvalid)
	}
	if pInfo == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	lo, hi, ok := mechanismInfo(ulong(mech))
	if !ok {
		return C.CK_RV(ckrMechanismInvalid)
	}
	flags := ckfSign
	if ulong(mech) >= ckmECDSA && ulong(mech) <= ckmECDSASHA512 {
		flags |= ckfECFp | ckfECNamedCurve | ckfECUncompress
	}
	pInfo.ulMinKeySize, pInfo.ulMaxKeySize, pInfo.flags = C.CK_ULONG(lo), C.CK_ULONG(hi), C.CK_FLAGS(flags)
	return C.CK_RV(ckrOK)
}

//export C_OpenSession
func C_OpenSession(id C.CK_SLOT_ID, flags C.CK_FLAGS, pApplication C.CK_VOID_PTR, notify C.CK_NOTIFY, phSession C.CK_SESSION_HANDLE_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if id != slotID {
		return C.CK_RV(ckrSlotIDInvalid)
	}
	if phSession == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	h, r := m.openSession(ulong(flags))
	if r == ckrOK {
		*phSession = C.CK_SESSION_HANDLE(h)
	}
	return C.CK_RV(r)
}

//export C_CloseSession
func C_CloseSession(h C.CK_SESSION_HANDLE) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	return C.CK_RV(m.closeSession(ulong(h)))
}

//export C_CloseAllSessions
func C_CloseAllSessions(id C.CK_SLOT_ID) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if id != slotID {
		return C.CK_RV(ckrSlotIDInvalid)
	}
	m.closeAll()
	return C.CK_RV(ckrOK)
}

//export C_GetSessionInfo
func C_GetSessionInfo(h C.CK_SESSION_HANDLE, pInfo C.CK_SESSION_INFO_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if pInfo == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	pInfo.slotID = slotID
	pInfo.state = C.CK_STATE(m.sessionState(s))
	pInfo.flags = C.CK_FLAGS(s.flags)
	pInfo.ulDeviceError = 0
	return C.CK_RV(ckrOK)
}

//export C_Login
func C_Login(h C.CK_SESSION_HANDLE, user C.CK_USER_TYPE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if _, r := m.session(ulong(h)); r != ckrOK {
		return C.CK_RV(r)
	}
	if ulPinLen > 4096 || pPin == nil && ulPinLen > 0 {
		return C.CK_RV(ckrArgumentsBad)
	}
	pin := ""
	if pPin != nil {
		pin = string(unsafe.Slice((*byte)(unsafe.Pointer(pPin)), int(ulPinLen)))
	}
	return C.CK_RV(m.login(ulong(user), pin))
}

//export C_Logout
func C_Logout(h C.CK_SESSION_HANDLE) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if _, r := m.session(ulong(h)); r != ckrOK {
		return C.CK_RV(r)
	}
	return C.CK_RV(m.logout())
}

//export C_GetAttributeValue
func C_GetAttributeValue(h C.CK_SESSION_HANDLE, obj C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if _, r := m.session(ulong(h)); r != ckrOK {
		return C.CK_RV(r)
	}
	if pTemplate == nil && ulCount > 0 || ulCount > 1<<16 {
		return C.CK_RV(ckrArgumentsBad)
	}
	o, r := m.object(ulong(obj))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	result := ckrOK
	for i := range unsafe.Slice(pTemplate, int(ulCount)) {
		a := (*C.CK_ATTRIBUTE)(unsafe.Add(unsafe.Pointer(pTemplate), uintptr(i)*unsafe.Sizeof(*pTemplate)))
		v, ok := o.attrs[ulong(a._type)]
		switch {
		case !ok && o.class == ckoPrivateKey && sensitive[ulong(a._type)]:
			a.ulValueLen = C.CK_ULONG(unavailable)
			result = ckrAttributeSensitive
		case !ok:
			a.ulValueLen = C.CK_ULONG(unavailable)
			if result == ckrOK {
				result = ckrAttributeTypeInvalid
			}
		case a.pValue == nil:
			a.ulValueLen = C.CK_ULONG(len(v))
		case int(a.ulValueLen) < len(v):
			a.ulValueLen = C.CK_ULONG(unavailable)
			result = ckrBufferTooSmall
		default:
			copy(unsafe.Slice((*byte)(a.pValue), len(v)), v)
			a.ulValueLen = C.CK_ULONG(len(v))
		}
	}
	return C.CK_RV(result)
}

//export C_FindObjectsInit
func C_FindObjectsInit(h C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if pTemplate == nil && ulCount > 0 || ulCount > 1<<16 {
		return C.CK_RV(ckrArgumentsBad)
	}
	var template []attr
	for _, a := range unsafe.Slice(pTemplate, int(ulCount)) {
		if a.pValue == nil && a.ulValueLen > 0 || a.ulValueLen > 1<<20 {
			return C.CK_RV(ckrArgumentsBad)
		}
		var v []byte
		if a.ulValueLen > 0 {
			v = C.GoBytes(unsafe.Pointer(a.pValue), C.int(a.ulValueLen))
		}
		template = append(template, attr{typ: ulong(a._type), value: v})
	}
	return C.CK_RV(m.findInit(s, template))
}

//export C_FindObjects
func C_FindObjects(h C.CK_SESSION_HANDLE, phObject C.CK_OBJECT_HANDLE_PTR, ulMaxObjectCount C.CK_ULONG, pulObjectCount C.CK_ULONG_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if pulObjectCount == nil || phObject == nil && ulMaxObjectCount > 0 {
		return C.CK_RV(ckrArgumentsBad)
	}
	found, r := m.findNext(s, int(min(ulMaxObjectCount, 1<<20)))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if len(found) > 0 {
		out := unsafe.Slice(phObject, len(found))
		for i, o := range found {
			out[i] = C.CK_OBJECT_HANDLE(o)
		}
	}
	*pulObjectCount = C.CK_ULONG(len(found))
	return C.CK_RV(ckrOK)
}

//export C_FindObjectsFinal
func C_FindObjectsFinal(h C.CK_SESSION_HANDLE) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	return C.CK_RV(m.findFinal(s))
}

//export C_SignInit
func C_SignInit(h C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if pMechanism == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	var pss []ulong
	if pMechanism.pParameter != nil {
		if pMechanism.ulParameterLen != C.CK_ULONG(unsafe.Sizeof(C.CK_RSA_PKCS_PSS_PARAMS{})) {
			if ulong(pMechanism.mechanism) == ckmRSAPKCSPSS || ulong(pMechanism.mechanism) == ckmSHA256RSAPKCSPSS {
				return C.CK_RV(ckrMechanismParamInvalid)
			}
		} else {
			p := (*C.CK_RSA_PKCS_PSS_PARAMS)(pMechanism.pParameter)
			pss = []ulong{ulong(p.hashAlg), ulong(p.mgf), ulong(p.sLen)}
		}
	}
	return C.CK_RV(m.signInit(s, ulong(pMechanism.mechanism), pss, ulong(hKey)))
}

// writeSignature answers a C_Sign or C_SignFinal.
func writeSignature(m *module, s *session, data []byte, oneShot bool, pSignature C.CK_BYTE_PTR, pulLen C.CK_ULONG_PTR) C.CK_RV {
	if pulLen == nil {
		return C.CK_RV(ckrArgumentsBad)
	}
	sig, n, r := m.finish(s, data, oneShot, int(min(*pulLen, 1<<20)), pSignature != nil)
	if r == ckrOK || r == ckrBufferTooSmall {
		*pulLen = C.CK_ULONG(n)
	}
	if r == ckrOK && sig != nil {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(pSignature)), len(sig)), sig)
	}
	return C.CK_RV(r)
}

//export C_Sign
func C_Sign(h C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if pData == nil && ulDataLen > 0 || ulDataLen > maxInput {
		return C.CK_RV(ckrArgumentsBad)
	}
	var data []byte
	if ulDataLen > 0 {
		data = C.GoBytes(unsafe.Pointer(pData), C.int(ulDataLen))
	}
	return writeSignature(m, s, data, true, pSignature, pulSignatureLen)
}

//export C_SignUpdate
func C_SignUpdate(h C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if pPart == nil && ulPartLen > 0 || ulPartLen > maxInput {
		return C.CK_RV(ckrArgumentsBad)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.op == nil {
		return C.CK_RV(ckrOperationNotInitialized)
	}
	if ulPartLen == 0 {
		return C.CK_RV(ckrOK)
	}
	r = s.op.update(C.GoBytes(unsafe.Pointer(pPart), C.int(ulPartLen)))
	if r != ckrOK {
		s.op = nil
	}
	return C.CK_RV(r)
}

//export C_SignFinal
func C_SignFinal(h C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	s, r := m.session(ulong(h))
	if r != ckrOK {
		return C.CK_RV(r)
	}
	return writeSignature(m, s, nil, false, pSignature, pulSignatureLen)
}

//export C_SeedRandom
func C_SeedRandom(h C.CK_SESSION_HANDLE, pSeed C.CK_BYTE_PTR, ulSeedLen C.CK_ULONG) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if _, r := m.session(ulong(h)); r != ckrOK {
		return C.CK_RV(r)
	}
	return C.CK_RV(ckrRandomSeedNotSupported)
}

// C_GenerateRandom reads the host's random number generator: the module
// has no other, and needs none.
//
//export C_GenerateRandom
func C_GenerateRandom(h C.CK_SESSION_HANDLE, pRandomData C.CK_BYTE_PTR, ulRandomLen C.CK_ULONG) (rv C.CK_RV) {
	defer guard(&rv)
	m, r := current()
	if r != ckrOK {
		return C.CK_RV(r)
	}
	if _, r := m.session(ulong(h)); r != ckrOK {
		return C.CK_RV(r)
	}
	if pRandomData == nil && ulRandomLen > 0 || ulRandomLen > 1<<20 {
		return C.CK_RV(ckrArgumentsBad)
	}
	if ulRandomLen > 0 {
		rand.Read(unsafe.Slice((*byte)(unsafe.Pointer(pRandomData)), int(ulRandomLen)))
	}
	return C.CK_RV(ckrOK)
}
